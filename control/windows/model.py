"""Window Structs: a freeze or release window, global or per route, one-off or recurring.

Pure shapes and their rules; a bad window is a `BadInput` naming the field. No I/O here.
"""

from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from control.durations import Time
from control.errors import BROKEN_RULE, UNKNOWN_REFERENCE, BadInput

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ClockTime = Annotated[
    str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24-hour")
]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class Recurrence(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Weekly wall-clock hours in a named IANA zone ("Europe/Berlin"), so a window keeps its
    local hours across daylight-saving changes. `end` at or before `start` runs past midnight
    into the next day (fri 18:00 -> 08:00 covers Friday night until Saturday 08:00)."""

    timezone: str
    days: Annotated[list[Weekday], msgspec.Meta(min_length=1)]  # days on which the range starts
    start: ClockTime
    end: ClockTime

    def zone(self) -> ZoneInfo:
        return zone(self.timezone)


class WindowIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`PUT /admin/windows/{name}`: give `start`/`end` (one-off; either may be open) or
    `recurring`, not both. Times without an offset are UTC."""

    kind: Literal["freeze", "release"] = "freeze"
    route: str | None = None  # None: every route
    reason: Reason
    start: Time | None = None  # one-off: default now
    end: Time | None = None  # one-off: default open-ended (until the window is deleted)
    recurring: Recurrence | None = None


class FreezeIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`PUT /admin/freeze`: freeze now (every route, or `route`) until `end` or until lifted."""

    reason: Reason
    route: str | None = None
    end: Time | None = None
    name: str = "freeze"  # the window's name; PUT again to change it


class Window(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A stored window (hash `keyspace.WINDOWS`, field = name)."""

    name: str
    kind: Literal["freeze", "release"]
    route: str | None
    reason: str
    start: Time | None = None
    end: Time | None = None
    recurring: Recurrence | None = None
    author: str = ""
    created_at: Time | None = None


class WindowOut(msgspec.Struct, frozen=True, kw_only=True):
    """The admin API's answer about a window (the CLI decodes it as this type too)."""

    window: Window
    open: bool  # open at `at` (now by default)
    until: Time | None  # when the current opening ends, if open and known
    created: bool = True


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(
            f"recurring.timezone: {name!r} is not an IANA time zone (like 'Europe/Berlin')",
            field="recurring.timezone",
            code=UNKNOWN_REFERENCE,
        ) from None


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def build(name: str, body: WindowIn, *, actor: str, now: datetime) -> Window:
    """The stored window for `body`; BadInput naming the field when its times contradict."""
    if body.recurring is not None:
        if body.start is not None or body.end is not None:
            raise BadInput(
                "recurring: give either start/end (one-off) or recurring, not both",
                field="recurring",
                code=BROKEN_RULE,
            )
        body.recurring.zone()
        if body.recurring.start == body.recurring.end:
            raise BadInput(
                "recurring.end: must differ from recurring.start",
                field="recurring.end",
                code=BROKEN_RULE,
            )
        return Window(
            name=name,
            kind=body.kind,
            route=body.route,
            reason=body.reason,
            recurring=body.recurring,
            author=actor,
            created_at=now,
        )
    if body.kind == "release" and (body.start is None or body.end is None):
        raise BadInput(
            "end: a one-off release window needs both start and end", field="end", code=BROKEN_RULE
        )  # an open release window would simply mean "no restriction"
    start = utc(body.start) if body.start is not None else now
    end = utc(body.end) if body.end is not None else None
    if end is not None and end <= start:
        raise BadInput("end: must be after start", field="end", code=BROKEN_RULE)
    return Window(
        name=name,
        kind=body.kind,
        route=body.route,
        reason=body.reason,
        start=start,
        end=end,
        author=actor,
        created_at=now,
    )

"""Whether a window is open at a given instant, and whether a route is frozen then.

Pure functions over stored windows and an instant the caller passes in (no clock inside), so
time zones and daylight-saving changes are tested exactly. Recurring windows are wall-clock
hours in their own zone: 17:00 Berlin is 16:00 UTC in winter and 15:00 UTC in summer. On the
night the clocks skip an hour, wall-clock times in the gap never occur.
"""

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Literal

import msgspec

from control.durations import Time
from control.windows.model import WEEKDAYS, Recurrence, Window, utc


class Freeze(msgspec.Struct, frozen=True, kw_only=True):
    """Why changes that add risk are refused on a route now."""

    window: str  # the window's name (or the names of the release windows, comma-separated)
    kind: Literal["freeze", "outside_release_window"]
    route: str | None  # the window's scope: None for a global window
    reason: str
    until: Time | None  # when it ends, if known (None: open-ended or outside release windows)


class FreezeState(msgspec.Struct, frozen=True, kw_only=True):
    """The admin API's answer to "may this route change now?" (the CLI decodes it too)."""

    route: str
    at: Time
    freeze: Freeze | None  # None: changes are allowed


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _occurrence_end(rule: Recurrence, at: datetime) -> datetime | None:
    """The UTC end of the occurrence of `rule` holding `at`, or None when `at` is outside it."""
    zone = rule.zone()
    local = utc(at).astimezone(zone)
    start, end, now = _clock(rule.start), _clock(rule.end), local.time().replace(tzinfo=None)
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    end_date = None
    if start < end:
        if today in rule.days and start <= now < end:
            end_date = local.date()
    elif today in rule.days and now >= start:
        end_date = local.date() + timedelta(days=1)
    elif yesterday in rule.days and now < end:
        end_date = local.date()
    if end_date is None:
        return None
    return utc(datetime.combine(end_date, end, tzinfo=zone))


def open_until(window: Window, at: datetime) -> tuple[bool, datetime | None]:
    """(is the window open at `at`, when that opening ends — None when open-ended)."""
    at = utc(at)
    if window.recurring is not None:
        end = _occurrence_end(window.recurring, at)
        return end is not None, end
    started = window.start is None or utc(window.start) <= at
    ended = window.end is not None and at >= utc(window.end)
    return started and not ended, window.end


def is_open(window: Window, at: datetime) -> bool:
    return open_until(window, at)[0]


def freeze_at(windows: Iterable[Window], route: str, at: datetime) -> Freeze | None:
    """The freeze on `route` at `at`: an open freeze window (global or the route's), or being
    outside every release window when the route (or every route) has release windows."""
    applicable = sorted((w for w in windows if w.route in (None, route)), key=lambda w: w.name)
    for window in applicable:
        if window.kind != "freeze":
            continue
        opened, until = open_until(window, at)
        if opened:
            return Freeze(
                window=window.name,
                kind="freeze",
                route=window.route,
                reason=window.reason,
                until=until,
            )
    releases = [w for w in applicable if w.kind == "release"]
    if releases and not any(is_open(w, at) for w in releases):
        names = ", ".join(w.name for w in releases)
        return Freeze(
            window=names,
            kind="outside_release_window",
            route=route,
            reason=f"changes are allowed only inside release windows ({names})",
            until=None,
        )
    return None

"""The timeline Struct: what `build` collects and `render` turns into Markdown. No I/O here."""

from typing import Any, Literal

import msgspec

from control.durations import Time
from control.impact.compute import Figures
from control.reviews.model import Review


class Moment(msgspec.Struct, frozen=True, kw_only=True):
    time: Time
    source: Literal["audit", "window", "webhook"]
    action: str  # route.flip, rollout.rolled_back, window.put, webhook.delivered, …
    actor: str  # a token's name, or the automation that decided
    summary: str  # what changed, in a few words
    reason: str
    evidence: dict[str, Any] | None = None  # the data behind an automated decision
    emergency: bool = False


class MinuteTraffic(msgspec.Struct, frozen=True, kw_only=True):
    minute: Time
    calls: dict[str, int]  # release -> calls in that minute
    errors: dict[str, int]
    thumbs_down: dict[str, int]


class Reach(msgspec.Struct, frozen=True, kw_only=True):
    release: str
    figures: Figures


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    route: str
    since: Time
    until: Time
    stable: str
    kill_switch: str | None
    frozen_by: str | None  # the window freezing the route at `until`, if any
    moments: list[Moment]  # oldest first
    traffic: list[MinuteTraffic]  # minutes with calls, oldest first
    reach: list[Reach]  # per release that served calls in the interval
    reviews: list[Review]  # emergency changes in the interval or still open


class TimelineOut(msgspec.Struct, frozen=True, kw_only=True):
    """The admin API's answer: the timeline's data and its Markdown rendering."""

    timeline: Timeline
    markdown: str  # the blameless postmortem skeleton

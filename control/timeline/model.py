"""The timeline Struct: what `build` collects and `render` turns into Markdown. No I/O here."""

from typing import Any, Literal

import msgspec

from control.durations import Time
from control.impact.compute import Figures
from control.reviews.model import Review


class GuardVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """One guard's verdict at the look that decided (`control.rollout.evidence.Evidence`)."""

    metric: str
    verdict: str  # pass, fail, inconclusive
    n_canary: int
    n_baseline: int
    estimate: float  # > 0: the canary is worse
    lower: float
    upper: float


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """A rollout's audited decision (a route rollout's `rollout.*`, a group rollout's
    `group_rollout.*` on each member route), read from its audit evidence."""

    release: str  # this route's candidate
    stable: str
    step: int  # 0-based index of the step it decided at
    percent: float  # the canary's weight at that step
    guards: list[GuardVerdict]  # the look that decided ([] before the first look)
    split_mismatch: bool | None = None  # this route's split check; None before one ran
    group: str | None = None  # a group rollout: its group and id
    group_rollout: str | None = None
    combined_calls: tuple[int, int] | None = None  # a group rollout: pooled (canary, stable)
    route_calls: tuple[int, int] | None = None  # a group rollout: this route's (canary, stable)


class Moment(msgspec.Struct, frozen=True, kw_only=True):
    time: Time
    source: Literal["audit", "window", "webhook"]
    action: str  # route.flip, rollout.rolled_back, window.put, webhook.delivered, …
    actor: str  # a token's name, or the automation that decided
    summary: str  # what changed, in a few words
    reason: str
    evidence: dict[str, Any] | None = None  # the data behind an automated decision
    emergency: bool = False
    decision: Decision | None = None  # a rollout's decision, read from `evidence`


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

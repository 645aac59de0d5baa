"""A release's impact over an interval, next to stable's over the same minutes. Pure; no I/O.

Inputs are the route's minute bucket hashes (as the telemetry flush writes them) and distinct
sticky-key counts read from its HyperLogLogs (Redis' standard error: 0.81%).
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import msgspec

from control.durations import Time
from control.stats.compute import OK, Totals, merge
from gateway.contract import telemetry as tk
from gateway.contract.snapshot import ReleaseSpec

HLL_STANDARD_ERROR = 0.0081  # Redis HyperLogLog; counts up to a few hundred are near exact


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    calls: int
    distinct_users: int  # distinct sticky keys (the `user` field or the sticky header)
    errors: int  # calls whose outcome was not ok
    error_rate: float | None
    thumbs_up: int
    thumbs_down: int
    thumbs_down_rate: float | None  # down / (up + down)
    tokens_in: int
    tokens_out: int
    cost_usd: float


class MinuteImpact(msgspec.Struct, frozen=True, kw_only=True):
    minute: Time  # start of the minute (UTC)
    calls: int
    distinct_users: int
    errors: int
    thumbs_down: int


class Impact(msgspec.Struct, frozen=True, kw_only=True):
    route: str
    release: str
    stable: str  # the route's stable release now
    since: Time
    until: Time
    first_call: Time | None  # the first and last minute in which the release served calls
    last_call: Time | None
    minutes: int  # minutes in which the release served calls
    release_figures: Figures
    stable_figures: Figures | None  # stable over the same minutes; None when release is stable
    per_minute: list[MinuteImpact]  # minutes with calls only
    distinct_users_standard_error: float = HLL_STANDARD_ERROR
    users_recorded: bool = False  # whether the affected user keys can be exported (opt-in)


def minute_time(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * tk.MINUTE_S, tz=UTC)


def _errors(totals: Totals) -> int:
    return sum(count for outcome, count in totals.outcomes.items() if outcome != OK)


def figures(totals: Totals | None, spec: ReleaseSpec | None, distinct_users: int) -> Figures:
    totals = totals or Totals()
    calls, errors = totals.get(tk.REQUESTS), _errors(totals)
    up, down = totals.get(tk.THUMBS_UP), totals.get(tk.THUMBS_DOWN)
    tokens_in, tokens_out = totals.get(tk.TOKENS_IN), totals.get(tk.TOKENS_OUT)
    cost = 0.0
    if spec is not None:
        model = spec.model
        cost = tk.cost_usd(
            tokens_in, tokens_out, model.input_usd_per_mtok, model.output_usd_per_mtok
        )
    return Figures(
        calls=calls,
        distinct_users=distinct_users,
        errors=errors,
        error_rate=errors / calls if calls else None,
        thumbs_up=up,
        thumbs_down=down,
        thumbs_down_rate=down / (up + down) if up + down else None,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=round(cost, 9),
    )


def active_minutes(
    release: str, minutes: Sequence[int], buckets: Sequence[Mapping[str, int]]
) -> list[int]:
    calls = tk.field(release, tk.REQUESTS)
    return [m for m, bucket in zip(minutes, buckets, strict=True) if bucket.get(calls, 0) > 0]


def per_minute(
    release: str,
    minutes: Sequence[int],
    buckets: Sequence[Mapping[str, int]],
    users: Mapping[int, int],
) -> list[MinuteImpact]:
    rows = []
    for minute, bucket in zip(minutes, buckets, strict=True):
        totals = merge([bucket]).get(release)
        if totals is None or not totals.get(tk.REQUESTS):
            continue
        rows.append(
            MinuteImpact(
                minute=minute_time(minute),
                calls=totals.get(tk.REQUESTS),
                distinct_users=users.get(minute, 0),
                errors=_errors(totals),
                thumbs_down=totals.get(tk.THUMBS_DOWN),
            )
        )
    return rows

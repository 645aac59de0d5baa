"""Per-period series of a route's telemetry, for charts: one point per minute (windows up to a
day) or hour, per release. Pure; no I/O, no clock. The same summaries as the window totals
(`compute.summarise`), applied to each bucket on its own.
"""

from collections.abc import Mapping, Sequence

import msgspec

from control.stats.compute import Totals, merge, summarise
from gateway.contract.bucketing import release_number
from gateway.contract.snapshot import ReleaseSpec


class ReleaseSeries(msgspec.Struct, frozen=True, kw_only=True):
    """Parallel lists, one value per period of `RouteSeries.t`; None where undefined (no calls,
    no ratings, no scores)."""

    requests: list[int]
    errors: list[int]  # non-ok outcomes of every class
    error_rate: list[float | None]
    thumbs_up: list[int]
    thumbs_down: list[int]
    thumbs_down_rate: list[float | None]
    mean_score: list[float | None]
    latency_p50_ms: list[float | None]
    latency_p95_ms: list[float | None]
    latency_p99_ms: list[float | None]
    ttft_p50_ms: list[float | None]
    ttft_p95_ms: list[float | None]
    tokens_in: list[int]
    tokens_out: list[int]
    cost_usd: list[float]


class RouteSeries(msgspec.Struct, frozen=True, kw_only=True):
    route: str
    window: str
    period_s: int  # 60 (minute buckets) or 3600 (hour buckets)
    t: list[int]  # start of each period, epoch s, oldest first
    releases: dict[str, ReleaseSeries]  # every release seen in the window or holding weight


def _empty_lists() -> dict[str, list[object]]:
    return {name: [] for name in ReleaseSeries.__struct_fields__}


def route_series(
    route: str,
    window: str,
    period_s: int,
    periods: Sequence[int],
    buckets: Sequence[Mapping[str, int]],
    releases: Mapping[str, ReleaseSpec],
    weights_bp: Mapping[str, int],
) -> RouteSeries:
    """`periods[i]` is the period number (epoch s // period_s) of `buckets[i]`."""
    merged = [merge([bucket]) for bucket in buckets]
    seen = {name for totals in merged for name in totals} | set(weights_bp)
    names = sorted(seen, key=lambda r: (release_number(r), r))
    columns = {name: _empty_lists() for name in names}
    for totals in merged:
        for name in names:
            stats = summarise(name, totals.get(name) or Totals(), releases.get(name), 0, 0)
            latency, ttft, feedback = stats.latency_ms, stats.ttft_ms, stats.feedback
            values: dict[str, object] = {
                "requests": stats.requests,
                "errors": sum(stats.errors.values()),
                "error_rate": stats.error_rate,
                "thumbs_up": feedback.up,
                "thumbs_down": feedback.down,
                "thumbs_down_rate": feedback.thumbs_down_rate,
                "mean_score": feedback.mean_score,
                "latency_p50_ms": latency.p50 if latency else None,
                "latency_p95_ms": latency.p95 if latency else None,
                "latency_p99_ms": latency.p99 if latency else None,
                "ttft_p50_ms": ttft.p50 if ttft else None,
                "ttft_p95_ms": ttft.p95 if ttft else None,
                "tokens_in": stats.tokens_in,
                "tokens_out": stats.tokens_out,
                "cost_usd": stats.cost_usd,
            }
            column = columns[name]
            for field, value in values.items():
                column[field].append(value)
    return RouteSeries(
        route=route,
        window=window,
        period_s=period_s,
        t=[period * period_s for period in periods],
        releases={name: msgspec.convert(column, ReleaseSeries) for name, column in columns.items()},
    )

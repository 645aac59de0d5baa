"""Merging telemetry bucket hashes and summarising them per release. Pure; no I/O, no clock."""

from collections.abc import Iterable, Mapping

import msgspec

from control.durations import duration_s
from control.rollout.statistics import srm_p_value
from gateway.contract import telemetry as tk
from gateway.contract.bucketing import BUCKETS, release_number
from gateway.contract.histogram import COUNT, quantile
from gateway.contract.snapshot import ReleaseSpec

MIN_WINDOW_S = 60
MAX_WINDOW_S = 7 * 24 * 3600
OK = "ok"


class WindowError(ValueError):
    pass


def parse_window(text: str) -> int:
    """'15m', '2h', '7d' → seconds, between 1 minute and 7 days."""
    seconds = duration_s(text)
    if seconds is None:
        raise WindowError(f"window {text!r} must look like 90s, 15m, 6h or 7d")
    if not MIN_WINDOW_S <= seconds <= MAX_WINDOW_S:
        raise WindowError(f"window {text!r} must be between 1m and 7d")
    return seconds


class Totals:
    """Summed counters of one release over the buckets of a window."""

    __slots__ = ("counters", "latency", "outcomes", "ttft")

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}
        self.latency = [0] * COUNT
        self.ttft = [0] * COUNT

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)


def merge(buckets: Iterable[Mapping[str, int]]) -> dict[str, Totals]:
    """Sum bucket hashes (`<release>|<counter>[|<part>]` → int) into per-release totals."""
    totals: dict[str, Totals] = {}
    for bucket in buckets:
        for name, value in bucket.items():
            release, _, counter = name.partition("|")
            entry = totals.get(release)
            if entry is None:
                entry = totals[release] = Totals()
            kind, _, part = counter.partition("|")
            if kind == tk.OUTCOME:
                entry.outcomes[part] = entry.outcomes.get(part, 0) + value
            elif kind in (tk.LATENCY, tk.TTFT) and part.isdigit() and int(part) < COUNT:
                histogram = entry.latency if kind == tk.LATENCY else entry.ttft
                histogram[int(part)] += value
            else:
                entry.counters[counter] = entry.counters.get(counter, 0) + value
    return totals


class Quantiles(msgspec.Struct, frozen=True):
    p50: float
    p95: float
    p99: float


class FeedbackStats(msgspec.Struct, frozen=True):
    count: int  # calls with feedback (a replaced feedback counts once)
    up: int
    down: int
    thumbs_down_rate: float | None  # down / (up + down)
    scores: int
    mean_score: float | None
    score_variance: float | None  # sample variance of the scores (n - 1), from the sum of squares


class ReleaseStats(msgspec.Struct, frozen=True):
    release: str
    weight_percent: float  # configured
    observed_share_percent: float | None  # of the route's requests in the window
    requests: int
    distinct_keys: int | None  # sticky keys served (HyperLogLog, ~1% error); None: not read
    errors: dict[str, int]  # by class; "ok" excluded
    error_rate: float | None
    latency_ms: Quantiles | None  # upper bounds of the histogram buckets holding each quantile
    ttft_ms: Quantiles | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    feedback: FeedbackStats


class RouteStats(msgspec.Struct, frozen=True):
    route: str
    window: str
    window_s: int
    from_ts: int
    to_ts: int
    releases: list[ReleaseStats]
    # Sample-ratio mismatch of the current split: chi-square p-value of the window's requests
    # (and distinct sticky keys) of the releases with weight against their weights. None with
    # fewer than two such releases or no traffic. Meaningful when the split held all window long.
    srm_p_value: float | None = None
    srm_keys_p_value: float | None = None


def _quantiles_ms(counts: list[int]) -> Quantiles | None:
    values = [quantile(counts, q) for q in (0.5, 0.95, 0.99)]
    if values[0] is None:
        return None
    p50, p95, p99 = (round((v or 0.0) * 1000, 3) for v in values)
    return Quantiles(p50=p50, p95=p95, p99=p99)


def score_variance(n: int, total: float, total_sq: float) -> float | None:
    """Sample variance from the count, sum and sum of squares (None below two scores)."""
    if n < 2:
        return None
    return max((total_sq - total * total / n) / (n - 1), 0.0)


def summarise(
    release: str,
    totals: Totals,
    spec: ReleaseSpec | None,
    weight_bp: int,
    route_requests: int,
    distinct_keys: int | None = None,
) -> ReleaseStats:
    requests = totals.get(tk.REQUESTS)
    errors = {k: v for k, v in sorted(totals.outcomes.items()) if k != OK and v}
    up, down = totals.get(tk.THUMBS_UP), totals.get(tk.THUMBS_DOWN)
    scores = totals.get(tk.SCORES)
    tokens_in, tokens_out = totals.get(tk.TOKENS_IN), totals.get(tk.TOKENS_OUT)
    cost = 0.0
    if spec is not None:
        price_in, price_out = spec.model.input_usd_per_mtok, spec.model.output_usd_per_mtok
        cost = tk.cost_usd(tokens_in, tokens_out, price_in, price_out)
    return ReleaseStats(
        release=release,
        weight_percent=weight_bp / 100,
        observed_share_percent=round(100 * requests / route_requests, 2)
        if route_requests
        else None,
        requests=requests,
        distinct_keys=distinct_keys,
        errors=errors,
        error_rate=sum(errors.values()) / requests if requests else None,
        latency_ms=_quantiles_ms(totals.latency),
        ttft_ms=_quantiles_ms(totals.ttft),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=round(cost, 9),
        feedback=FeedbackStats(
            count=totals.get(tk.FEEDBACK),
            up=up,
            down=down,
            thumbs_down_rate=down / (up + down) if up + down else None,
            scores=scores,
            mean_score=totals.get(tk.SCORE_MICROS) / scores / 1e6 if scores else None,
            score_variance=score_variance(
                scores, totals.get(tk.SCORE_MICROS) / 1e6, totals.get(tk.SCORE_SQ_MICROS) / 1e6
            ),
        ),
    )


def route_stats(
    route: str,
    window: str,
    window_s: int,
    now_s: int,
    buckets: Iterable[Mapping[str, int]],
    releases: Mapping[str, ReleaseSpec],
    weights_bp: Mapping[str, int],
    distinct_keys: Mapping[str, int] | None = None,
) -> RouteStats:
    totals = merge(buckets)
    keys = distinct_keys or {}
    live = {r: bp / BUCKETS for r, bp in weights_bp.items() if bp > 0}
    requests = {r: (totals.get(r) or Totals()).get(tk.REQUESTS) for r in live}
    names = sorted(set(totals) | set(weights_bp), key=lambda r: (release_number(r), r))
    route_requests = sum(t.get(tk.REQUESTS) for t in totals.values())
    return RouteStats(
        route=route,
        window=window,
        window_s=window_s,
        from_ts=now_s - window_s,
        to_ts=now_s,
        releases=[
            summarise(
                name,
                totals.get(name) or Totals(),
                releases.get(name),
                weights_bp.get(name, 0),
                route_requests,
                keys.get(name) if distinct_keys is not None else None,
            )
            for name in names
        ],
        srm_p_value=_srm(requests, live),
        srm_keys_p_value=_srm({r: keys.get(r, 0) for r in live}, live) if keys else None,
    )


def _srm(observed: dict[str, int], shares: dict[str, float]) -> float | None:
    if len(shares) < 2 or not sum(observed.values()):
        return None
    return srm_p_value(observed, shares)

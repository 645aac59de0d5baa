"""The latency guard: a planned look at the end of a step on the two arms' latency histograms.

Mann-Whitney U and the Hodges-Lehmann shift with its Moses bounds catch a slower typical request;
distribution-free p95/p99 bounds catch a fatter tail, which a rank test misses. Pure; no I/O.
"""

import math

import numpy as np
from numpy.typing import NDArray

from control.rollout import ranks
from control.rollout.evidence import Evidence, judge
from control.rollout.sequential import normal_quantile
from gateway.contract.histogram import COUNT, GROWTH

TAIL_QUANTILES = (0.95, 0.99)
_SLOWEST: float = GROWTH**COUNT - 1.0  # the largest slow-down the buckets can express


def _slowdown(buckets: float) -> float:
    """A shift of log(latency), in buckets, as a fractional slow-down (0.2 = 20% slower)."""
    return float(min(math.expm1(buckets * ranks.LOG_GROWTH), _SLOWEST))


def latency_evidence(
    canary: NDArray[np.float64],
    baseline: NDArray[np.float64],
    *,
    alpha: float,
    tolerance: float,
    min_samples: int,
    metric: str,
) -> Evidence:
    """alpha is spent as alpha/2 on the shift and alpha/4 on each tail quantile (Bonferroni)."""
    n_c, n_b = int(canary.sum()), int(baseline.sum())
    if min(n_c, n_b) < max(min_samples, 1):
        return judge(
            metric, n_c, n_b, 0.0, -1.0, _SLOWEST, tolerated=tolerance, margin=tolerance,
            alpha=alpha, min_samples=max(min_samples, 1), statistic=0.0, scale=100.0, unit="%",
        )  # fmt: skip
    test = ranks.mann_whitney(canary, baseline)
    # Moses: the bounds on the shift are the pairwise differences at ranks n_c·n_b/2 ∓ z·sd(U).
    edge = max(0.5 + normal_quantile(alpha / 2) * test.sd / (n_c * n_b), 0.0)
    shift, low, high = ranks.pairwise_quantiles(canary, baseline, (0.5, edge, 1.0 - edge))
    evidence = judge(
        metric, n_c, n_b, _slowdown(shift), _slowdown(low), _slowdown(high),
        tolerated=tolerance, margin=tolerance, alpha=alpha, min_samples=min_samples,
        statistic=test.z, scale=100.0, unit="%",
    )  # fmt: skip
    worse = _worse_tails(canary, baseline, alpha / 4, tolerance)
    if not worse:
        return evidence
    detail = "; ".join(worse)
    if evidence.verdict == "fail":
        detail = f"{evidence.detail}; {detail}"
    return Evidence(
        metric=evidence.metric,
        verdict="fail",
        n_canary=n_c,
        n_baseline=n_b,
        estimate=evidence.estimate,
        lower=evidence.lower,
        upper=evidence.upper,
        statistic=evidence.statistic,
        alpha=alpha,
        detail=detail,
    )


def _worse_tails(
    canary: NDArray[np.float64], baseline: NDArray[np.float64], alpha: float, tolerance: float
) -> list[str]:
    """Tail quantiles whose canary lower bound exceeds the baseline upper bound by more than the
    tolerance, each comparison at `alpha` (alpha/2 per arm's bound)."""
    worse = []
    for q in TAIL_QUANTILES:
        canary_low, _ = ranks.quantile_bounds(canary, q, alpha / 2)
        _, baseline_high = ranks.quantile_bounds(baseline, q, alpha / 2)
        if canary_low > baseline_high * (1.0 + tolerance):
            worse.append(
                f"p{round(q * 100)} regression: canary at least {canary_low * 1000:.3g} ms, "
                f"baseline at most {baseline_high * 1000:.3g} ms"
            )
    return worse

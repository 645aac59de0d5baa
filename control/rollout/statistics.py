"""Decision statistics of a canary rollout: one guard per metric turns the two arms' counts into
a verdict (pass / fail / inconclusive) with its evidence.

Pure functions over frozen Structs: no I/O, no clock, no randomness. The controller owns when to
look, which alpha each guard gets (`split_alpha`) and what a verdict does.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np

from control.rollout import metrics, sequential
from control.rollout.evidence import (
    SRM_P_THRESHOLD,
    Counts,
    Evidence,
    Moments,
    Verdict,
    check_parameters,
    judge,
)
from control.rollout.latency import latency_evidence
from control.rollout.ranks import as_counts
from control.rollout.srm import srm_p_value as _srm_p_value

__all__ = [
    "SRM_P_THRESHOLD",
    "Counts",
    "Evidence",
    "Moments",
    "Verdict",
    "hard_ceiling",
    "latency_guard",
    "rare_rate_guard",
    "rate_guard",
    "score_guard",
    "split_alpha",
    "srm_p_value",
]

_MAX_LOG_STATISTIC = 700.0  # exp(700) ~ 1e304: report a huge likelihood ratio, never inf


def split_alpha(alpha: float, k: int) -> float:
    """Bonferroni share of `alpha` for each of `k` guards (or planned looks): alpha / k."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if k < 1:
        raise ValueError(f"the number of guards to split alpha over must be >= 1, got {k}")
    return alpha / k


def hard_ceiling(canary: Counts, *, ceiling: float, min_n: int) -> bool:
    """True when the canary's observed rate exceeds `ceiling` over at least `min_n` trials: an
    absolute stop that acts on the next tick with no statistics (e.g. errors > 20% over 20 calls).
    """
    if not 0.0 <= ceiling <= 1.0:
        raise ValueError(f"ceiling must be a rate in [0, 1], got {ceiling}")
    if min_n < 1:
        raise ValueError(f"min_n must be >= 1, got {min_n}")
    return canary.n >= min_n and canary.events > ceiling * canary.n


def rate_guard(
    canary: Counts,
    baseline: Counts,
    *,
    tau: float,
    margin: float,
    tolerated: float = 0.0,
    alpha: float,
    min_samples: int,
    metric: str = "rate",
) -> Evidence:
    """Always-valid one-sided test for a rate regression (error rate, thumbs-down rate) with
    unequal splits: the half-normal mixture SPRT (Johari, Pekelis & Walsh) and its confidence
    sequence on canary - baseline. `tau` ≈ the smallest regression worth catching.

    fail when lower > tolerated; pass when upper < margin; else inconclusive. Inconclusive until
    both arms have `min_samples` trials. Valid at any number of looks, on counts cumulative over
    changing steps. `statistic` is the mixture ratio against "regression = tolerated" (fail iff
    it reaches 1/alpha). The variance is the hypothesis' own once the canary has ~25 expected
    events' worth of data, the larger plug-in before (see metrics.rate_variance).
    """
    check_parameters(alpha=alpha, tau=tau, min_samples=min_samples)
    est, lower, upper = metrics.rate_bounds(
        canary.events, canary.n, baseline.events, baseline.n, tau, alpha
    )
    log_ratio = metrics.rate_log_ratio(
        canary.events, canary.n, baseline.events, baseline.n, tolerated, tau
    )
    return judge(
        metric,
        canary.n,
        baseline.n,
        float(est),
        float(lower),
        float(upper),
        tolerated=tolerated,
        margin=margin,
        alpha=alpha,
        min_samples=min_samples,
        statistic=_capped_exp(float(log_ratio)),
        scale=100.0,
        unit=" pp",
    )


def rare_rate_guard(
    canary: Counts,
    baseline: Counts,
    *,
    alpha: float,
    min_samples: int,
    margin: float = 0.01,
    tolerated: float = 0.0,
    ratio: float = 4.0,
    prior_strength: float = 20.0,
    metric: str = "error_rate",
) -> Evidence:
    """Exact always-valid test for rare bad events (errors below a few percent): conditional on
    the total event count, the canary's share of events is binomial with pi0 = the canary's share
    of trials under no difference; a beta-binomial mixture sequential test on that share, whose
    confidence sequence on the rate ratio is mapped to canary - baseline.

    `ratio` centres the Beta prior on the rate ratio worth catching fast, `prior_strength` is its
    concentration. fail when lower > tolerated; pass when upper < margin. Exact given one split;
    with counts cumulative over changing steps it kept its false alarms below alpha in simulation.
    The pass side converts the ratio bound to rate units with a Poisson upper bound on the event
    count (an approximation); the fail side, at tolerated = 0, is exactly the conditional test.
    """
    check_parameters(alpha=alpha, tau=None, min_samples=min_samples)
    if ratio <= 1.0 or prior_strength <= 0.0:
        raise ValueError("ratio must be > 1 and prior_strength > 0")
    if canary.n == 0 or baseline.n == 0:  # nothing to compare yet: the widest honest bounds
        estimate = canary.events / max(canary.n, 1) - baseline.events / max(baseline.n, 1)
        return judge(
            metric, canary.n, baseline.n, estimate, -1.0, 1.0, tolerated=tolerated,
            margin=margin, alpha=alpha, min_samples=min_samples, statistic=1.0, scale=100.0,
            unit=" pp",
        )  # fmt: skip
    p0, share_lo, share_hi = metrics.rare_bounds(
        canary.events, canary.n, baseline.events, baseline.n, alpha, ratio, prior_strength
    )
    ratio_lo = float(metrics.share_to_ratio(share_lo, p0))
    ratio_hi = float(metrics.share_to_ratio(share_hi, p0))
    events = canary.events + baseline.events
    estimate = canary.events / max(canary.n, 1) - baseline.events / max(baseline.n, 1)
    # The test is on the rate ratio; it is shown in rate units by scaling with the pooled rate.
    # The lower bound uses the observed event count, so that with tolerated = 0 the verdict is
    # exactly the conditional test's; the upper bound (the pass side) uses a Poisson bound on the
    # count, so that "no errors yet" never reads as a confident pass.
    lower = _ratio_to_rate(
        ratio_lo, events if ratio_lo >= 1.0 else _poisson_high(events, alpha), canary.n, baseline.n
    )
    upper = _ratio_to_rate(
        ratio_hi,
        _poisson_high(events, alpha) if ratio_hi >= 1.0 else _poisson_low(events, alpha),
        canary.n,
        baseline.n,
    )
    statistic = sequential.log_beta_binomial_ratio(
        canary.events, baseline.events, p0, *metrics.rare_prior(p0, ratio, prior_strength)
    )
    return judge(
        metric,
        canary.n,
        baseline.n,
        estimate,
        min(lower, estimate),
        max(upper, estimate),
        tolerated=tolerated,
        margin=margin,
        alpha=alpha,
        min_samples=min_samples,
        statistic=_capped_exp(float(statistic)),
        scale=100.0,
        unit=" pp",
    )


def score_guard(
    canary: Moments,
    baseline: Moments,
    *,
    tau: float,
    margin: float,
    alpha: float,
    min_samples: int,
    tolerated: float = 0.0,
    metric: str = "score",
) -> Evidence:
    """Always-valid one-sided test for a drop of the mean feedback score: the same half-normal
    mixture confidence sequence as `rate_guard`, on baseline mean - canary mean (> 0 is worse).
    """
    check_parameters(alpha=alpha, tau=tau, min_samples=min_samples)
    est, var = metrics.score_estimate(
        canary.n, canary.total, canary.total_sq, baseline.n, baseline.total, baseline.total_sq
    )
    lower, upper = sequential.mixture_bounds(est, var, tau, alpha)
    log_ratio = sequential.log_half_normal_ratio((est - tolerated) / np.sqrt(var), tau * tau / var)
    return judge(
        metric,
        canary.n,
        baseline.n,
        float(est),
        float(lower),
        float(upper),
        tolerated=tolerated,
        margin=margin,
        alpha=alpha,
        min_samples=min_samples,
        statistic=_capped_exp(float(log_ratio)),
        scale=1.0,
        unit="",
    )


def latency_guard(
    canary_buckets: Sequence[int],
    baseline_buckets: Sequence[int],
    *,
    alpha: float,
    tolerance: float,
    min_samples: int,
    metric: str = "latency",
) -> Evidence:
    """Planned look at the end of a step (never continuously; split alpha across steps):
    Mann-Whitney U on the latency histograms (gateway.contract.histogram buckets) with a
    Hodges-Lehmann shift and its Moses bounds (alpha/2), plus p95 and p99 checks from
    distribution-free order-statistic bounds (alpha/4 each). `statistic` is the MW z.

    estimate = fractional slow-down of the typical canary request. fail when the lower bound of
    the shift exceeds `tolerance` or a tail quantile is confidently worse by more than
    `tolerance`; pass when the upper bound is below `tolerance` and no tail fails.
    """
    check_parameters(alpha=alpha, tau=None, min_samples=min_samples)
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    return latency_evidence(
        as_counts(canary_buckets, "canary_buckets"),
        as_counts(baseline_buckets, "baseline_buckets"),
        alpha=alpha,
        tolerance=tolerance,
        min_samples=min_samples,
        metric=metric,
    )


def srm_p_value(
    observed: Mapping[str, int],
    expected_share: Mapping[str, float],
    *,
    count_relative_error: float = 0.0,
) -> float:
    """Sample-ratio mismatch at one look: Pearson chi-square goodness-of-fit p-value of the
    observed counts per release (requests, or distinct sticky keys) against the configured shares.
    The controller holds on `srm.sequential_srm_p_value` instead (valid at every tick).
    """
    return _srm_p_value(observed, expected_share, count_relative_error=count_relative_error)


def _capped_exp(log_ratio: float) -> float:
    """A mixture likelihood ratio from its log, capped so it stays a finite JSON number."""
    return math.exp(min(log_ratio, _MAX_LOG_STATISTIC))


def _ratio_to_rate(ratio: float, events: float, n_c: int, n_b: int) -> float:
    """canary - baseline rate at rate ratio rho with `events` in all: the baseline rate is then
    events/(n_b + rho n_c). Rises with rho; at rho = inf it is events/n_c. A difference of two
    rates stays within [-1, 1] even when a Poisson bound on `events` exceeds the calls."""
    if math.isinf(ratio):
        return min(events / max(n_c, 1), 1.0)
    return max(-1.0, min(events * (ratio - 1.0) / max(n_b + ratio * n_c, 1.0), 1.0))


def _poisson_high(events: int, alpha: float) -> float:
    """Upper bound on a Poisson mean after `events` (sub-Gaussian lower tail), at alpha."""
    level = math.log(1.0 / alpha)
    return events + level + math.sqrt(level * level + 2.0 * events * level)


def _poisson_low(events: int, alpha: float) -> float:
    """Lower bound on a Poisson mean after `events` (Bernstein upper tail), at alpha."""
    return max(0.0, events - math.sqrt(2.0 * events * math.log(1.0 / alpha)))

"""Decision statistics of a canary rollout: one guard per metric turns the two arms' counts into
a verdict (pass / fail / inconclusive) with its evidence.

Pure functions over frozen Structs: no I/O, no clock, no randomness. The controller owns when to
look, which alpha each guard gets (`split_alpha`) and what a verdict does.
"""

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

import msgspec

Verdict = Literal["pass", "fail", "inconclusive"]

SRM_P_THRESHOLD = 0.001  # sample-ratio mismatch is declared below this p-value (see srm_p_value)

NonNegInt = Annotated[int, msgspec.Meta(ge=0)]


class Counts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One arm of a rate metric, cumulative since the rollout (or the step) began."""

    n: NonNegInt  # trials: calls (error rate) or rated responses (thumbs-down rate)
    events: NonNegInt  # bad events among them: errors, thumbs-down

    def __post_init__(self) -> None:
        if self.events > self.n:
            raise ValueError(f"events ({self.events}) cannot exceed n ({self.n})")


class Moments(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One arm of a score metric (feedback score in 0..1): count, sum and sum of squares."""

    n: NonNegInt
    total: float  # sum of the scores
    total_sq: float  # sum of the squared scores (the variance needs it)


class Evidence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the controller stores, audits and shows for one guard at one look."""

    metric: str  # the guard's metric name, e.g. "error_rate", "thumbs_down_rate", "score"
    verdict: Verdict
    n_canary: int  # samples in the canary arm (calls, rated responses, scores, latencies)
    n_baseline: int
    # Regression in the metric's unit, signed so that > 0 is WORSE for the canary: canary minus
    # baseline for rates; baseline minus canary for the score; for latency the fractional
    # slow-down of the typical request (0.10 = 10% slower).
    estimate: float
    lower: float  # always-valid (or planned-look) one-sided confidence bounds on `estimate`
    upper: float
    statistic: float  # the guard's test statistic (mixture likelihood ratio, or MW z)
    alpha: float  # the alpha this guard was tested at
    detail: str  # one human sentence: why this verdict


def split_alpha(alpha: float, k: int) -> float:
    """Bonferroni share of `alpha` for each of `k` guards (or planned looks): alpha / k."""
    raise NotImplementedError


def hard_ceiling(canary: Counts, *, ceiling: float, min_n: int) -> bool:
    """True when the canary's observed rate exceeds `ceiling` over at least `min_n` trials: an
    absolute stop that acts on the next tick with no statistics (e.g. errors > 20% over 20 calls).
    """
    raise NotImplementedError


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
    both arms have `min_samples` trials. Valid at any number of looks.
    """
    raise NotImplementedError


def rare_rate_guard(
    canary: Counts,
    baseline: Counts,
    *,
    alpha: float,
    min_samples: int,
    margin: float = 0.01,
    tolerated: float = 0.0,
    ratio: float = 2.0,
    prior_strength: float = 10.0,
    metric: str = "error_rate",
) -> Evidence:
    """Exact always-valid test for rare bad events (errors below a few percent): conditional on
    the total event count, the canary's share of events is binomial with pi0 = the canary's share
    of trials under no difference; a beta-binomial mixture sequential test on that share, whose
    confidence sequence on the rate ratio is mapped to canary - baseline.

    `ratio` centres the Beta prior on the rate ratio worth catching fast, `prior_strength` is its
    concentration. fail when lower > tolerated; pass when upper < margin. Exact for counts taken
    under one split (a step); valid at any number of looks.
    """
    raise NotImplementedError


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
    raise NotImplementedError


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
    Mann-Whitney
    U on the latency histograms (gateway.contract.histogram buckets) with a Hodges-Lehmann shift
    and its confidence bounds, plus a p95/p99 check from distribution-free quantile bounds.

    estimate = fractional slow-down of the typical canary request. fail when the lower bound of
    the shift exceeds `tolerance` or a tail quantile is confidently worse by more than
    `tolerance`; pass when the upper bound is below `tolerance` and no tail fails.
    """
    raise NotImplementedError


def srm_p_value(observed: Mapping[str, int], expected_share: Mapping[str, float]) -> float:
    """Sample-ratio mismatch: Pearson chi-square goodness-of-fit p-value of the observed counts per
    release (requests, or distinct sticky keys) against the configured shares. Below
    SRM_P_THRESHOLD the controller must refuse to judge and hold.
    """
    raise NotImplementedError

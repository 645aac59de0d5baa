"""The evidence a guard returns and the one rule turning bounds into a verdict. Pure; no I/O."""

import math
from typing import Annotated, Literal

import msgspec

Verdict = Literal["pass", "fail", "inconclusive"]

# One-look chi-square (srm_p_value) threshold for figures and reports; the controller holds on the
# sequential test instead (srm.SRM_SEQUENTIAL_ALPHA), which stays valid when looked at every tick.
SRM_P_THRESHOLD = 0.001

NonNegInt = Annotated[int, msgspec.Meta(ge=0)]


class Counts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One arm of a rate metric, cumulative since the rollout (or the step) began."""

    n: NonNegInt  # trials: calls (error rate) or rated responses (thumbs-down rate)
    events: NonNegInt  # bad events among them: errors, thumbs-down

    def __post_init__(self) -> None:
        # Meta constraints bind decoding only; direct construction is checked here.
        if self.n < 0 or self.events < 0:
            raise ValueError(f"n ({self.n}) and events ({self.events}) must be >= 0")
        if self.events > self.n:
            raise ValueError(f"events ({self.events}) cannot exceed n ({self.n})")


class Moments(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One arm of a score metric (feedback score in 0..1): count, sum and sum of squares."""

    n: NonNegInt
    total: float  # sum of the scores
    total_sq: float  # sum of the squared scores (the variance needs it)

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n ({self.n}) must be >= 0")
        if not (math.isfinite(self.total) and math.isfinite(self.total_sq)):
            raise ValueError("total and total_sq must be finite")
        if self.n == 0 and (self.total != 0 or self.total_sq != 0):
            raise ValueError("moments with n = 0 must have total = total_sq = 0")
        # Cauchy-Schwarz: n·Σx² >= (Σx)²; a small slack absorbs float rounding of the sums
        if self.n and self.n * self.total_sq < self.total**2 * (1 - 1e-9) - 1e-9:
            raise ValueError("total_sq is smaller than total**2 / n: not the moments of one sample")


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


def check_parameters(*, alpha: float, tau: float | None, min_samples: int) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if tau is not None and not (tau > 0.0 and math.isfinite(tau)):
        raise ValueError(f"tau must be > 0, got {tau}")
    if min_samples < 0:
        raise ValueError(f"min_samples must be >= 0, got {min_samples}")


def judge(
    metric: str,
    n_canary: int,
    n_baseline: int,
    estimate: float,
    lower: float,
    upper: float,
    *,
    tolerated: float,
    margin: float,
    alpha: float,
    min_samples: int,
    statistic: float,
    scale: float,
    unit: str,
) -> Evidence:
    """fail when lower > tolerated, else pass when upper < margin, else inconclusive; always
    inconclusive while either arm has fewer than `min_samples` samples."""

    def show(value: float) -> str:
        return f"{value * scale:+.3g}{unit}"

    if min(n_canary, n_baseline) < min_samples:
        verdict: Verdict = "inconclusive"
        detail = (
            f"waiting for samples: canary {n_canary}, baseline {n_baseline}, "
            f"need {min_samples} in each"
        )
    elif lower > tolerated:
        verdict = "fail"
        detail = (
            f"regression: {metric} is worse by at least {show(lower)} "
            f"(estimate {show(estimate)}), beyond the tolerated {show(tolerated)}"
        )
    elif upper < margin:
        verdict = "pass"
        detail = (
            f"non-inferior: {metric} is worse by at most {show(upper)} "
            f"(estimate {show(estimate)}), within the margin {show(margin)}"
        )
    else:
        verdict = "inconclusive"
        detail = (
            f"{metric} regression between {show(lower)} and {show(upper)}: not beyond the "
            f"tolerated {show(tolerated)} nor within the margin {show(margin)} yet"
        )
    return Evidence(
        metric=metric,
        verdict=verdict,
        n_canary=n_canary,
        n_baseline=n_baseline,
        estimate=estimate,
        lower=lower,
        upper=upper,
        statistic=statistic,
        alpha=alpha,
        detail=detail,
    )

"""Per-metric array cores of the guards: the estimates, variances and always-valid bounds of a
rate difference, a mean-score drop and a rare-event share, over arrays of looks (one look in the
controller, 10^5 simulated looks in the tests). Pure numpy; no I/O, no randomness.
"""

import math

import numpy as np
from numpy.typing import ArrayLike

from control.rollout.sequential import (
    Array,
    beta_binomial_bounds,
    log_half_normal_ratio,
)

_BISECTIONS = 46  # brackets of width <= 2 shrink below 1e-13
NORMAL_EVENTS = 25.0  # canary n·p(1-p) from which its event count is treated as normal


def _as_arms(
    x_c: ArrayLike, n_c: ArrayLike, x_b: ArrayLike, n_b: ArrayLike
) -> tuple[Array, Array, Array, Array]:
    # Half a count in each arm keeps every variance > 0 before the first event.
    xc = np.asarray(x_c, dtype=np.float64) + 0.5
    xb = np.asarray(x_b, dtype=np.float64) + 0.5
    nc = np.asarray(n_c, dtype=np.float64) + 1.0
    nb = np.asarray(n_b, dtype=np.float64) + 1.0
    return xc, nc, xb, nb


def restricted_variance(
    x_c: ArrayLike, n_c: ArrayLike, x_b: ArrayLike, n_b: ArrayLike, d: ArrayLike
) -> Array:
    """Variance of p̂_c - p̂_b if the true difference were d: both rates re-estimated under that
    hypothesis from the pooled events (p_b = (x_c + x_b - d n_c)/(n_c + n_b), p_c = p_b + d), as
    a score test does. At d = 0 it is the pooled variance, the natural one under no difference,
    and it keeps the canary's own (larger) variance from slowing the detection of a rise."""
    xc, nc, xb, nb = _as_arms(x_c, n_c, x_b, n_b)
    dd = np.asarray(d, dtype=np.float64)
    pb = np.clip((xc + xb - dd * nc) / (nc + nb), 1e-9, 1.0 - 1e-9)
    pc = np.clip(pb + dd, 1e-9, 1.0 - 1e-9)
    return np.asarray(pc * (1.0 - pc) / nc + pb * (1.0 - pb) / nb, dtype=np.float64)


def rate_variance(
    x_c: ArrayLike, n_c: ArrayLike, x_b: ArrayLike, n_b: ArrayLike, d: ArrayLike
) -> Array:
    """The variance the rate tests use against difference d.

    Once the canary arm holds enough events for its count to be near normal (n_c·p̄(1-p̄) >=
    NORMAL_EVENTS), the hypothesis' own variance (`restricted_variance`). Before that, the larger
    of it and the unpooled plug-in p̂_c(1-p̂_c)/n_c + p̂_b(1-p̂_b)/n_b: a small canary's count is
    right-skewed, and an early burst must widen its own variance, or low rates (1-2%) alarm at
    twice alpha.
    """
    xc, nc, xb, nb = _as_arms(x_c, n_c, x_b, n_b)
    pc, pb = xc / nc, xb / nb
    plug_in = pc * (1.0 - pc) / nc + pb * (1.0 - pb) / nb
    restricted = restricted_variance(x_c, n_c, x_b, n_b, d)
    pooled = (xc + xb) / (nc + nb)
    normal = nc * pooled * (1.0 - pooled) >= NORMAL_EVENTS
    return np.asarray(np.where(normal, restricted, np.maximum(restricted, plug_in)), np.float64)


def rate_log_ratio(
    x_c: ArrayLike, n_c: ArrayLike, x_b: ArrayLike, n_b: ArrayLike, d: ArrayLike, tau: float
) -> Array:
    """log of the half-normal mixture ratio against "canary - baseline = d" (rise side)."""
    xc, nc = np.asarray(x_c, dtype=np.float64), np.asarray(n_c, dtype=np.float64)
    xb, nb = np.asarray(x_b, dtype=np.float64), np.asarray(n_b, dtype=np.float64)
    estimate = xc / np.maximum(nc, 1.0) - xb / np.maximum(nb, 1.0)
    dd = np.asarray(d, dtype=np.float64)
    variance = rate_variance(xc, nc, xb, nb, dd)
    return log_half_normal_ratio((estimate - dd) / np.sqrt(variance), tau * tau / variance)


def rate_bounds(
    x_c: ArrayLike,
    n_c: ArrayLike,
    x_b: ArrayLike,
    n_b: ArrayLike,
    tau: float,
    alpha: float,
) -> tuple[Array, Array, Array]:
    """(estimate, lower, upper) of canary - baseline rate, each bound always valid at alpha.

    lower = the smallest d that the rise-side mixture test against d does not reject (ratio <
    1/alpha); upper = the largest d the mirrored fall-side test does not reject. Each test uses
    the variance under its own d (`rate_variance`); the ratio falls as d nears the
    estimate, so bisection on [-1, estimate] and [estimate, 1] finds the ends.
    """
    xc, nc = np.asarray(x_c, dtype=np.float64), np.asarray(n_c, dtype=np.float64)
    xb, nb = np.asarray(x_b, dtype=np.float64), np.asarray(n_b, dtype=np.float64)
    estimate = xc / np.maximum(nc, 1.0) - xb / np.maximum(nb, 1.0)
    level = math.log(1.0 / alpha)
    # lower end: rejected at lo_a (or lo_a = -1), not rejected at lo_b
    lo_a, lo_b = np.full_like(estimate, -1.0), estimate.copy()
    hi_a, hi_b = estimate.copy(), np.full_like(estimate, 1.0)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo_a + lo_b)
        var = rate_variance(xc, nc, xb, nb, mid)
        rejected = log_half_normal_ratio((estimate - mid) / np.sqrt(var), tau * tau / var) >= level
        lo_a, lo_b = np.where(rejected, mid, lo_a), np.where(rejected, lo_b, mid)
        mid = 0.5 * (hi_a + hi_b)
        var = rate_variance(xc, nc, xb, nb, mid)
        rejected = log_half_normal_ratio((mid - estimate) / np.sqrt(var), tau * tau / var) >= level
        hi_a, hi_b = np.where(rejected, hi_a, mid), np.where(rejected, mid, hi_b)
    return estimate, lo_a, hi_b


def score_estimate(
    n_c: ArrayLike,
    sum_c: ArrayLike,
    sq_c: ArrayLike,
    n_b: ArrayLike,
    sum_b: ArrayLike,
    sq_b: ArrayLike,
) -> tuple[Array, Array]:
    """(estimate, variance) of baseline - canary mean score (> 0 is worse), for `mixture_bounds`.

    Each arm's variance is floored at ¼/(n+1), a half-observation's worth of spread, so arms of
    identical scores do not give a zero-width bound.
    """

    def arm(n: ArrayLike, total: ArrayLike, sq: ArrayLike) -> tuple[Array, Array]:
        n_ = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
        mean = np.asarray(total, dtype=np.float64) / n_
        spread = (np.asarray(sq, dtype=np.float64) - n_ * mean * mean) / np.maximum(n_ - 1, 1.0)
        return mean, np.maximum(spread, 0.25 / (n_ + 1.0)) / n_

    mean_c, var_c = arm(n_c, sum_c, sq_c)
    mean_b, var_b = arm(n_b, sum_b, sq_b)
    return mean_b - mean_c, var_c + var_b


def rare_bounds(
    x_c: ArrayLike,
    n_c: ArrayLike,
    x_b: ArrayLike,
    n_b: ArrayLike,
    alpha: float,
    ratio: float,
    prior_strength: float,
) -> tuple[Array, Array, Array]:
    """(share, lower, upper) of the canary's share π of the bad events, always valid at alpha, and
    π₀ = n_c/(n_c+n_b), the share under no difference. Given m = x_c + x_b events, x_c is
    Binomial(m, π) exactly (Poisson thinning), so the beta-binomial mixture sequence is exact.

    The Beta prior has mean π at rate ratio `ratio` (π = ρπ₀/(ρπ₀ + 1 - π₀)) and concentration
    `prior_strength`: it decides which regressions are caught fastest, never the validity.
    """
    xc, xb = np.asarray(x_c, dtype=np.float64), np.asarray(x_b, dtype=np.float64)
    nc, nb = np.asarray(n_c, dtype=np.float64), np.asarray(n_b, dtype=np.float64)
    p0 = nc / np.maximum(nc + nb, 1.0)
    a, b = rare_prior(p0, ratio, prior_strength)
    lower, upper = beta_binomial_bounds(xc, xb, a, b, alpha)
    return p0, lower, upper


def rare_prior(p0: ArrayLike, ratio: float, prior_strength: float) -> tuple[Array, Array]:
    """Beta(a, b) on the canary's share of events, with its mean at rate ratio `ratio`."""
    p = np.asarray(p0, dtype=np.float64)
    centre = ratio * p / (ratio * p + 1.0 - p)
    a = np.maximum(prior_strength * centre, 1e-6)
    b = np.maximum(prior_strength * (1.0 - centre), 1e-6)
    return a, b


def share_to_ratio(share: ArrayLike, p0: ArrayLike) -> Array:
    """Rate ratio canary/baseline implied by the canary's share of events (inf at share 1)."""
    s, p = np.asarray(share, dtype=np.float64), np.asarray(p0, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.asarray(s * (1.0 - p) / ((1.0 - s) * p), dtype=np.float64)

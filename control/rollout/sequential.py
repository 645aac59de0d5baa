"""Vectorised cores of the always-valid tests: the half-normal mixture SPRT confidence sequence
(normal approximation) and the beta-binomial mixture confidence sequence on a binomial share.

Pure numpy over arrays of looks, so the same code judges one look in the controller and 10^5
simulated looks in the tests. No I/O, no randomness.
"""

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

_BISECTIONS = 50  # halves a bracket to ~1e-15 of its width
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


_ERFC_FIT = (  # Chebyshev fit of erfc (Numerical Recipes' erfcc), highest power first
    0.17087277,
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)


def _log_erfc_parts(z: Array) -> tuple[Array, Array]:
    """For z >= 0: erfc(z) = exp(log_head - z²) with log_head = log t + fit(t); relative error
    < 1.2e-7 everywhere, and in log form it never underflows."""
    t = 1.0 / (1.0 + 0.5 * z)
    fit = np.zeros_like(t)
    for coefficient in _ERFC_FIT:
        fit = fit * t + coefficient
    return np.log(t) + fit, z * z


def normal_cdf(x: ArrayLike) -> Array:
    """Φ(x), vectorised, relative error < 1.2e-7."""
    x = np.asarray(x, dtype=np.float64)
    head, square = _log_erfc_parts(np.abs(x) / math.sqrt(2.0))
    tail = 0.5 * np.exp(head - square)  # Φ(-|x|)
    return np.asarray(np.where(x < 0, tail, 1.0 - tail), dtype=np.float64)


def normal_quantile(p: float) -> float:
    """Φ⁻¹(p) (the standard library's Wichura AS241, accurate to ~1e-16)."""
    return NormalDist().inv_cdf(p)


def log_half_normal_ratio(s: ArrayLike, r: ArrayLike) -> Array:
    """log Λ⁺ of the half-normal mixture SPRT at a standardised effect s = Δ̂/√V, r = τ²/V.

    Λ⁺ = 2·√(1/(1+r))·exp(r·s²/(2(1+r)))·Φ(s·√(r/(1+r))) (statistics.md §4.2). For s < 0 the
    exponent cancels against Φ's Gaussian tail exactly, so that branch drops both: computed
    apart, they overflow and underflow far from the estimate and the ratio stops falling.
    """
    s = np.asarray(s, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    exponent = 0.5 * r * s * s / (1.0 + r)  # = (k·s)²/2 with k = √(r/(1+r))
    head, square = _log_erfc_parts(np.sqrt(exponent))
    # s >= 0: Φ(ks) = 1 - ½·erfc(ks/√2); s < 0: Φ(ks) = ½·exp(head - exponent)
    upper = exponent + np.log1p(-0.5 * np.exp(head - square))
    lower = head - math.log(2.0)
    return np.asarray(
        math.log(2.0) - 0.5 * np.log1p(r) + np.where(s >= 0, upper, lower), dtype=np.float64
    )


def half_normal_radius(r: ArrayLike, alpha: float) -> Array:
    """Standardised radius s* of the one-sided confidence sequence: log Λ⁺(s*) = log(1/alpha).

    The lower bound is Δ̂ - s*·√V (and, by the mirrored mixture, the upper bound Δ̂ + s*·√V),
    each valid at alpha over every look. Λ⁺ rises in s, and s* lies in (0, s₂] where s₂ is the
    two-sided normal-mixture radius, so bisection on that bracket is exact.
    """
    r = np.asarray(r, dtype=np.float64)
    target = math.log(1.0 / alpha)
    hi = np.sqrt((1.0 + r) / r * (2.0 * target + np.log1p(r)))
    lo = np.zeros_like(hi)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        above = log_half_normal_ratio(mid, r) >= target
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return np.asarray(hi, dtype=np.float64)


def mixture_bounds(
    estimate: ArrayLike, variance: ArrayLike, tau: float, alpha: float
) -> tuple[Array, Array]:
    """(lower, upper) one-sided always-valid bounds on a normal estimate with variance V: the
    lower bound exceeds d exactly when the half-normal mixture ratio against d exceeds 1/alpha."""
    est = np.asarray(estimate, dtype=np.float64)
    var = np.asarray(variance, dtype=np.float64)
    radius = half_normal_radius(tau * tau / var, alpha) * np.sqrt(var)
    return est - radius, est + radius


def log_gamma(x: ArrayLike) -> Array:
    """log Γ(x) for x > 0, vectorised: shift by 6, then Stirling's series (error < 1e-10)."""
    z = np.asarray(x, dtype=np.float64)
    shift = np.log(z * (z + 1) * (z + 2) * (z + 3) * (z + 4) * (z + 5))
    w = z + 6.0
    inv = 1.0 / w
    inv2 = inv * inv
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    return np.asarray((w - 0.5) * np.log(w) - w + _LOG_SQRT_2PI + series - shift, dtype=np.float64)


def log_beta(a: ArrayLike, b: ArrayLike) -> Array:
    return log_gamma(a) + log_gamma(b) - log_gamma(np.asarray(a) + np.asarray(b))


def _loglik(x: Array, y: Array, p: Array) -> Array:
    # x·log p + y·log(1-p) with 0·log 0 = 0 at the ends
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(x > 0, x * np.log(p), 0.0)
        right = np.where(y > 0, y * np.log1p(-p), 0.0)
    return np.asarray(left + right, dtype=np.float64)


def log_beta_binomial_ratio(
    x: ArrayLike, y: ArrayLike, p0: ArrayLike, a: ArrayLike, b: ArrayLike
) -> Array:
    """log of the Beta(a, b)-mixture likelihood ratio of x successes, y failures against p0."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    marginal = log_beta(x + a, y + b) - log_beta(a, b)
    return np.asarray(marginal - _loglik(x, y, np.asarray(p0, dtype=np.float64)), dtype=np.float64)


def beta_binomial_bounds(
    x: ArrayLike, y: ArrayLike, a: ArrayLike, b: ArrayLike, alpha: float
) -> tuple[Array, Array]:
    """Always-valid confidence sequence {p : mixture ratio against p < 1/alpha} for a binomial share
    after x successes and y failures: the interval (lower, upper) around x/(x+y).

    The log-likelihood is concave in p, so each end is found by bisection on its side of the
    maximum; with no successes the lower end is 0, with no failures the upper end is 1.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    level = log_beta(x + a, y + b) - log_beta(a, b) - math.log(1.0 / alpha)
    m = x + y
    mle = np.where(m > 0, x / np.maximum(m, 1.0), 0.5)
    lo_a, lo_b = np.zeros_like(mle), mle.copy()  # lower end within [0, mle]
    hi_a, hi_b = mle.copy(), np.ones_like(mle)  # upper end within [mle, 1]
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo_a + lo_b)
        inside = _loglik(x, y, mid) > level
        lo_b = np.where(inside, mid, lo_b)
        lo_a = np.where(inside, lo_a, mid)
        mid = 0.5 * (hi_a + hi_b)
        inside = _loglik(x, y, mid) > level
        hi_a = np.where(inside, mid, hi_a)
        hi_b = np.where(inside, hi_b, mid)
    lower = np.where(x > 0, lo_a, 0.0)
    upper = np.where(y > 0, hi_b, 1.0)
    return lower, upper

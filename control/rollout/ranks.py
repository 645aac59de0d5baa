"""Rank statistics on latency histograms (gateway.contract.histogram buckets): Mann-Whitney U with
tie correction, the Hodges-Lehmann shift with its Moses bounds, and distribution-free bounds on a
quantile. Pure numpy; works on bucket counts, never on raw latencies (the gateways keep none).
"""

import math
from collections.abc import Sequence
from statistics import NormalDist

import msgspec
import numpy as np
from numpy.typing import NDArray

from control.rollout.sequential import normal_quantile
from gateway.contract.histogram import BASE_S, COUNT, GROWTH

LOG_GROWTH = math.log(GROWTH)


class MannWhitney(msgspec.Struct, frozen=True):
    u: float  # U of the canary: pairs (canary, baseline) where the canary is slower, ties ½
    z: float  # standardised, tie-corrected, with continuity correction (as scipy's asymptotic)
    p_greater: float  # one-sided p-value for "canary slower"
    sd: float  # tie-corrected standard deviation of U under no difference


def as_counts(buckets: Sequence[int], name: str) -> NDArray[np.float64]:
    """Bucket counts as floats, after checking the shape the contract promises."""
    counts = np.asarray(buckets, dtype=np.float64)
    if counts.shape != (COUNT,):
        raise ValueError(f"{name} must have {COUNT} latency buckets, got {counts.shape[0]}")
    if np.any(counts < 0):
        raise ValueError(f"{name} has a negative bucket count")
    return counts


def mann_whitney(canary: NDArray[np.float64], baseline: NDArray[np.float64]) -> MannWhitney:
    """U test on bucketed data: values in one bucket are ties and get the bucket's mid-rank."""
    n_c, n_b = float(canary.sum()), float(baseline.sum())
    ties = canary + baseline
    below = np.concatenate(([0.0], np.cumsum(ties)[:-1]))
    u = float(np.dot(canary, below + (ties + 1.0) / 2.0)) - n_c * (n_c + 1.0) / 2.0
    total = n_c + n_b
    tie_term = float(np.sum(ties**3 - ties)) / (total * (total - 1.0))
    variance = n_c * n_b / 12.0 * ((total + 1.0) - tie_term)
    if variance <= 0:
        return MannWhitney(u=u, z=0.0, p_greater=1.0, sd=0.0)
    z = (u - n_c * n_b / 2.0 - 0.5) / math.sqrt(variance)
    return MannWhitney(u=u, z=z, p_greater=NormalDist().cdf(-z), sd=math.sqrt(variance))


def pairwise_quantiles(
    canary: NDArray[np.float64], baseline: NDArray[np.float64], qs: Sequence[float]
) -> list[float]:
    """Quantiles, in buckets (log(latency)/log(GROWTH)), of the canary-minus-baseline pairwise
    differences: the Hodges-Lehmann shift is q = 0.5, the Moses bounds are tail ranks.

    A value's place inside its bucket is unknown, so each pairwise bucket difference d is spread
    over (d-1, d+1) as the difference of two uniforms (a triangle) instead of sitting on d; the
    CDF is then piecewise quadratic, F(j+u) = W(<j) + w_j(½ + u - u²/2) + w_(j+1)·u²/2, and each
    quantile is solved exactly on its piece.
    """
    weights = np.convolve(canary, baseline[::-1])  # index k: bucket difference k - (COUNT-1)
    padded = np.concatenate(([0.0], weights / weights.sum(), [0.0]))  # differences -COUNT..COUNT
    at_integers = np.cumsum(padded) - 0.5 * padded  # F at each integer difference
    found = []
    for q in qs:
        j = int(np.clip(np.searchsorted(at_integers, q, side="left") - 1, 0, padded.size - 2))
        curve = 0.5 * (padded[j + 1] - padded[j])
        slope = padded[j]
        gap = float(q - at_integers[j])  # > 0 on this piece: F(j) < q <= F(j+1)
        root = math.sqrt(max(slope * slope + 4.0 * curve * gap, 0.0))
        u = 0.0 if gap <= 0.0 else min(2.0 * gap / max(slope + root, 1e-300), 1.0)
        found.append(j - COUNT + u)
    return found


def quantile_bounds(counts: NDArray[np.float64], q: float, alpha: float) -> tuple[float, float]:
    """Distribution-free one-sided bounds (each at alpha) on the q-quantile, in seconds, from order
    statistics (normal approximation to the binomial rank), widened to the bucket edges so
    bucketing can only make them conservative. 0 / inf when the sample is too small."""
    n = float(counts.sum())
    z = -normal_quantile(alpha)
    spread = z * math.sqrt(n * q * (1.0 - q))
    low_rank = math.floor(n * q - spread)
    high_rank = math.ceil(n * q + spread) + 1
    cumulative = np.cumsum(counts)
    lower = 0.0
    if low_rank >= 1:
        index = int(np.searchsorted(cumulative, low_rank))
        lower = 0.0 if index == 0 else BASE_S * GROWTH ** (index - 1)
    upper = math.inf
    if high_rank <= n:
        index = int(np.searchsorted(cumulative, high_rank))
        upper = math.inf if index >= COUNT - 1 else BASE_S * GROWTH**index
    return lower, upper

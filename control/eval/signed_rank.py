"""Wilcoxon signed-rank test on shifted paired differences, and the Hodges-Lehmann estimate. Pure.

Used for ordinal judge scores: testing `d + margin` one-sided ("greater") asks whether the
pseudo-median of the differences is above -margin. Zeros are kept in the ranking (Pratt), ties get
average ranks; with no ties or zeros and at most 50 cases the exact null distribution is used, else
the normal approximation with Pratt's and the tie correction (no continuity correction), which is
what `scipy.stats.wilcoxon(..., zero_method="pratt", correction=False)` computes.
"""

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

EXACT_MAX_N = 50
# Walsh averages grow as n^2/2: above this many cases the estimate uses evenly spaced order
# statistics instead (bounded memory; a median of averages barely moves).
_WALSH_MAX_N = 3_000


class SignedRank(NamedTuple):
    statistic: float  # sum of the ranks of the positive shifted differences
    p_value: float  # one-sided, alternative: pseudo-median of d > -margin
    method: str  # "exact" or "normal"


def _average_ranks(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], bool]:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks, bool(np.any(ends - starts > 1))


def _exact_sf(statistic: float, n: int) -> float:
    """P(R+ >= floor(statistic)) under H0, counting subsets of ranks 1..n by their sum."""
    top = n * (n + 1) // 2
    counts = np.zeros(top + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[: top + 1 - rank]
    k = math.floor(statistic)
    return float(counts[max(k, 0) :].sum() / counts.sum())


def signed_rank_test(differences: npt.NDArray[np.float64], margin: float) -> SignedRank:
    shifted = np.asarray(differences, dtype=np.float64) + margin
    # the shift is decimal: round away float noise so a difference of exactly -margin is a zero
    shifted = np.round(shifted, 12)
    n = len(shifted)
    if n == 0:
        raise ValueError("signed-rank test needs at least one case")
    ranks, tied = _average_ranks(np.abs(shifted))
    positive = float(ranks[shifted > 0].sum())
    zeros = shifted == 0
    n_zero = int(np.count_nonzero(zeros))
    if not tied and n_zero == 0 and n <= EXACT_MAX_N:
        return SignedRank(positive, _exact_sf(positive, n), "exact")
    mean = n * (n + 1) / 4 - n_zero * (n_zero + 1) / 4
    variance = float(n * (n + 1) * (2 * n + 1)) - n_zero * (n_zero + 1) * (2 * n_zero + 1)
    nonzero = np.abs(shifted[~zeros])
    if len(nonzero):
        _, tie_sizes = np.unique(nonzero, return_counts=True)
        variance -= float(np.sum(tie_sizes.astype(np.float64) ** 3 - tie_sizes)) / 2
    se = math.sqrt(max(variance, 0.0) / 24)
    if se == 0:  # every shifted difference is zero: no evidence either way
        return SignedRank(positive, 1.0, "normal")
    z = (positive - mean) / se
    return SignedRank(positive, 0.5 * math.erfc(z / math.sqrt(2)), "normal")


def _walsh(differences: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    values = np.sort(np.asarray(differences, dtype=np.float64))
    if len(values) > _WALSH_MAX_N:
        values = values[np.linspace(0, len(values) - 1, _WALSH_MAX_N).astype(int)]
    i, j = np.triu_indices(len(values))
    return np.sort((values[i] + values[j]) / 2)


def hodges_lehmann(differences: npt.NDArray[np.float64], alpha: float) -> tuple[float, float]:
    """(estimate, one-sided 1 - alpha lower bound) of the pseudo-median the test is about.

    The estimate is the median of the Walsh averages (d_i + d_j) / 2, i <= j; the bound is the
    (k+1)-th smallest of them, k the signed-rank statistic's lower alpha critical value (normal
    approximation), so the bound is above -margin about when the test rejects.
    """
    walsh = _walsh(differences)
    n = round((math.sqrt(8 * len(walsh) + 1) - 1) / 2)
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    k = math.floor(n * (n + 1) / 4 - NormalDist().inv_cdf(1 - alpha) * sd)
    return float(np.median(walsh)), float(walsh[min(max(k, 0), len(walsh) - 1)])

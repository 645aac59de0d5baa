"""Paired bootstrap of a mean difference, resampling cases or whole clusters. Pure, seeded.

Cluster resampling keeps correlated cases (one conversation, one source document) together, so
their shared noise widens the bound instead of being counted as independent evidence.
"""

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# Rows of resampling weights built per chunk: bounds memory to ~8 M cells whatever B and n are.
_CHUNK_CELLS = 8_000_000


def cluster_totals(
    differences: FloatArray, clusters: list[str] | None
) -> tuple[FloatArray, FloatArray]:
    """Per resampling unit: (sum of differences, number of cases). Units are cases or clusters."""
    if clusters is None:
        return differences.astype(np.float64), np.ones(len(differences), dtype=np.float64)
    _, inverse = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    sums: FloatArray = np.bincount(inverse, weights=differences).astype(np.float64)
    sizes = np.bincount(inverse).astype(np.float64)
    return sums, sizes


def bootstrap_means(
    sums: FloatArray, sizes: FloatArray, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """`resamples` bootstrap means: units drawn with replacement, mean over their cases.

    Each resample is a row of draw counts per unit; its mean is a ratio of count-weighted sums,
    the usual cluster bootstrap estimator (the plain mean of resampled cases when every unit is
    one case). `sums` may also be 2-D (datasets x units, same sizes): then every dataset is
    resampled with the same draws and the result is (datasets x resamples), which is how the
    simulation tests run a thousand gates at once.
    """
    units = sums.shape[-1]
    rows = max(1, _CHUNK_CELLS // max(units, 1))
    chunks: list[FloatArray] = []
    for start in range(0, resamples, rows):
        count = min(resamples, start + rows) - start
        draws = rng.integers(0, units, size=(count, units))
        flat = (draws + units * np.arange(count)[:, None]).ravel()
        weights = np.bincount(flat, minlength=count * units).reshape(count, units)
        weights = weights.astype(np.float64)
        chunks.append((sums @ weights.T) / (weights @ sizes))
    return np.concatenate(chunks, axis=-1)


def bootstrap_bounds(means: FloatArray, alpha: float, margin: float) -> tuple[float, float, float]:
    """(one-sided lower bound, one-sided upper bound, p-value of H0: mean <= -margin).

    Percentile bounds at level alpha. The p-value is the share of resampled means at or below
    -margin (plus one in numerator and denominator, so it is never 0): the bound is above -margin
    exactly when this share is below alpha, so the bound and the p-value never disagree.
    """
    lower = float(np.quantile(means, alpha))
    upper = float(np.quantile(means, 1.0 - alpha))
    at_or_below = int(np.count_nonzero(means <= -margin))
    p_value = (at_or_below + 1) / (len(means) + 1)
    return lower, upper, p_value

"""The paired-proportion (pass/fail) interval for a difference of pass rates. Pure.

Discordant counts n10 (baseline passes, candidate fails) and n01 give the estimate
(n01 - n10) / n and the Wald standard error sqrt((n01 + n10) - (n01 - n10)^2 / n) / n. With
clusters the standard error is the cluster-robust one over cluster totals (it reduces to the Wald
one, times sqrt(G / (G - 1)), when every cluster is one case).
"""

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import numpy.typing as npt


class PairedProportion(NamedTuple):
    estimate: float
    lower: float  # one-sided (1 - alpha) lower bound
    p_value: float  # H0: difference <= -margin
    improved: int  # n01
    regressed: int  # n10


def paired_proportion(
    baseline_pass: npt.NDArray[np.bool_],
    candidate_pass: npt.NDArray[np.bool_],
    margin: float,
    alpha: float,
    cluster_sums: npt.NDArray[np.float64] | None = None,
    cluster_sizes: npt.NDArray[np.float64] | None = None,
) -> PairedProportion:
    n = len(baseline_pass)
    improved = int(np.count_nonzero(candidate_pass & ~baseline_pass))
    regressed = int(np.count_nonzero(baseline_pass & ~candidate_pass))
    estimate = (improved - regressed) / n
    if cluster_sums is not None and cluster_sizes is not None and len(cluster_sums) > 1:
        groups = len(cluster_sums)
        residuals = cluster_sums - cluster_sizes * estimate
        se = math.sqrt(groups / (groups - 1) * float(np.sum(residuals**2))) / n
    else:
        se = math.sqrt(max((improved + regressed) - (improved - regressed) ** 2 / n, 0.0)) / n
    z = NormalDist().inv_cdf(1 - alpha)
    lower = estimate - z * se
    if se == 0:
        p_value = 0.0 if estimate > -margin else 1.0
    else:
        p_value = 1 - NormalDist().cdf((estimate + margin) / se)
    return PairedProportion(estimate, lower, p_value, improved, regressed)

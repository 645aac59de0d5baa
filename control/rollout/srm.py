"""Sample-ratio mismatch: does the observed split of requests (or of distinct sticky keys) over
the releases match the configured weights? Pearson's chi-square goodness of fit with an exact
closed-form tail for integer degrees of freedom. Pure; no I/O.
"""

import math
from collections.abc import Mapping

_SHARE_SUM_TOLERANCE = 1e-6


def chi_square_sf(statistic: float, df: int) -> float:
    """P(χ²_df ≥ statistic), exact for integer df ≥ 1 (Poisson-sum / erfc closed forms)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if statistic <= 0:
        return 1.0
    half = statistic / 2.0
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= half / k
            total += term
        return min(1.0, math.exp(-half) * total)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(half) * math.exp(-half) / math.gamma(1.5)
    for k in range(1, (df - 1) // 2 + 1):
        total += term
        term *= half / (k + 0.5)
    return min(1.0, total)


def srm_p_value(
    observed: Mapping[str, int],
    expected_share: Mapping[str, float],
    *,
    count_relative_error: float = 0.0,
) -> float:
    """p-value of the observed counts per release under the configured shares.

    Releases configured at share 0 are left out unless they received something (then p = 0: a
    release that should get nothing got traffic). `count_relative_error` > 0 widens each cell's
    variance by (ε·expected)² for approximate counts such as HyperLogLog cardinalities (Redis:
    ε ≈ 0.0081), which would otherwise flag a mismatch on counting noise alone.
    """
    if set(observed) != set(expected_share):
        raise ValueError(
            f"observed releases {sorted(observed)} differ from configured {sorted(expected_share)}"
        )
    for name, count in observed.items():
        if count < 0:
            raise ValueError(f"observed count of {name} is negative")
    for name, share in expected_share.items():
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"configured share of {name} must be within [0, 1], got {share}")
    if abs(sum(expected_share.values()) - 1.0) > _SHARE_SUM_TOLERANCE:
        raise ValueError("configured shares must sum to 1")
    if count_relative_error < 0:
        raise ValueError("count_relative_error must be >= 0")
    if any(expected_share[name] == 0.0 and count > 0 for name, count in observed.items()):
        return 0.0
    cells = [name for name, share in expected_share.items() if share > 0.0]
    total = sum(observed[name] for name in cells)
    if total == 0 or len(cells) < 2:
        return 1.0
    statistic = 0.0
    for name in cells:
        expected = expected_share[name] * total
        widen = 1.0 + count_relative_error**2 * expected
        statistic += (observed[name] - expected) ** 2 / (expected * widen)
    return chi_square_sf(statistic, len(cells) - 1)

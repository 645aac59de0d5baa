"""Sample-ratio mismatch: does the observed split of requests (or of distinct sticky keys) over
the releases match the configured weights? Pure; no I/O, no clock.

Two tests of the same counts:
- `sequential_srm_p_value`, what the rollout controller holds on: the Dirichlet-multinomial
  mixture test of Lindon & Malek ("Anytime-valid inference for multinomial count data", NeurIPS
  2022). Its Bayes factor is a martingale under the configured split, so by Ville's inequality
  the chance that it *ever* reaches 1/alpha over a step looked at every tick is at most alpha:
  peeking costs nothing. (A fixed-sample χ² looked at every tick inflates false holds.)
- `srm_p_value`, Pearson's χ² goodness of fit (exact closed-form tail for integer degrees of
  freedom): a one-look figure, for the stats API and reports.

Both assume independent draws: requests drawn per call, or distinct users (each bucketed once).
Requests of users placed by a sticky key are clustered (one user's calls share one release), so
the controller never feeds them to either test; it tests their distinct keys instead.
"""

import math
from collections.abc import Mapping

_SHARE_SUM_TOLERANCE = 1e-6
# Concentration of the Dirichlet mixing prior, centred on the configured shares: the prior's
# spread of a 5% share is ±2.2 points (sd), so a 5% arm getting 4% of 10,000 requests is flagged
# at alpha = 0.005, as are 10 calls pinned to a 5% canary (20 to a 20% one), while 5 are not.
SRM_PRIOR_CONCENTRATION = 100.0
# The controller holds when a sequential p-value falls below this. It runs two such tests per
# step (requests, distinct keys), so a step is held by mistake with chance at most 2 x 0.005.
SRM_SEQUENTIAL_ALPHA = 0.005
HLL_RELATIVE_ERROR = 0.0081  # Redis HyperLogLog standard error (PFCOUNT of the sticky keys)


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


def _check(
    observed: Mapping[str, int], expected_share: Mapping[str, float], count_relative_error: float
) -> None:
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


def srm_p_value(
    observed: Mapping[str, int],
    expected_share: Mapping[str, float],
    *,
    count_relative_error: float = 0.0,
) -> float:
    """p-value of the observed counts per release under the configured shares (one look).

    Releases configured at share 0 are left out unless they received something (then p = 0: a
    release that should get nothing got traffic). `count_relative_error` > 0 widens each cell's
    variance by (ε·expected)² for approximate counts such as HyperLogLog cardinalities (Redis:
    ε ≈ 0.0081), which would otherwise flag a mismatch on counting noise alone.
    """
    _check(observed, expected_share, count_relative_error)
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


def approximate_count_inflation(total: float, shares: list[float], relative_error: float) -> float:
    """How much approximate counts (each off by a relative error ε, e.g. HyperLogLog) widen the
    variance of an observed share beyond multinomial sampling: 1 + 2ε²·n·max θ(1-θ).

    A share x_i/n moves by about θ_i·(e_i - Σθ_j e_j) for count errors e ~ ε, a variance of at
    most 2ε²θ_i²(1-θ_i)² against the sampling variance θ_i(1-θ_i)/n.
    """
    spread = max((share * (1.0 - share) for share in shares), default=0.0)
    return 1.0 + 2.0 * relative_error**2 * total * spread


def sequential_srm_log_bayes_factor(
    observed: Mapping[str, int],
    expected_share: Mapping[str, float],
    *,
    count_relative_error: float = 0.0,
    concentration: float = SRM_PRIOR_CONCENTRATION,
) -> float:
    """log of the Dirichlet-multinomial mixture Bayes factor of "some other split" against the
    configured shares θ: with a_i = c·θ_i,
    log BF = lgamma(c) - lgamma(c + n) + Σ [lgamma(a_i + x_i) - lgamma(a_i) - x_i·log θ_i].

    Releases at share 0 are left out unless they received something (then +inf). Approximate
    counts (`count_relative_error` ε > 0) are shrunk to their effective sample size, n divided by
    `approximate_count_inflation`, so counting noise alone does not build evidence.
    """
    _check(observed, expected_share, count_relative_error)
    if concentration <= 0:
        raise ValueError("concentration must be > 0")
    if any(expected_share[name] == 0.0 and count > 0 for name, count in observed.items()):
        return math.inf
    cells = [name for name, share in expected_share.items() if share > 0.0]
    total = float(sum(observed[name] for name in cells))
    if total == 0 or len(cells) < 2:
        return 0.0
    scale = 1.0 / approximate_count_inflation(
        total, [expected_share[name] for name in cells], count_relative_error
    )
    log_bf = math.lgamma(concentration) - math.lgamma(concentration + total * scale)
    for name in cells:
        share, count = expected_share[name], observed[name] * scale
        prior = concentration * share
        log_bf += math.lgamma(prior + count) - math.lgamma(prior) - count * math.log(share)
    return log_bf


def sequential_srm_p_value(
    observed: Mapping[str, int],
    expected_share: Mapping[str, float],
    *,
    count_relative_error: float = 0.0,
    concentration: float = SRM_PRIOR_CONCENTRATION,
) -> float:
    """Always-valid p-value of the split at this look, min(1, 1/BF): the chance that it ever
    falls below alpha while the split is as configured is at most alpha, however often looked at.
    """
    log_bf = sequential_srm_log_bayes_factor(
        observed,
        expected_share,
        count_relative_error=count_relative_error,
        concentration=concentration,
    )
    return 1.0 if log_bf <= 0 else math.exp(-log_bf)

"""Sample-ratio mismatch: the chi-square tail against scipy, the 4%-of-10,000 case, and false
alarms over simulated exact splits, at one look and at a look every tick."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from control.rollout.srm import chi_square_sf
from control.rollout.statistics import SRM_P_THRESHOLD, srm_p_value


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 10])
def test_chi_square_tail_matches_scipy(df):
    for x in (0.0, 0.01, 0.5, 1.0, 3.84, 10.0, 21.05, 60.0, 300.0):
        assert chi_square_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-9, abs=1e-300)


@given(
    counts=st.lists(st.integers(0, 10_000), min_size=2, max_size=5),
    weights=st.lists(st.integers(1, 100), min_size=5, max_size=5),
)
def test_p_value_is_scipys_chisquare(counts, weights):
    shares = np.array(weights[: len(counts)], dtype=float)
    shares /= shares.sum()
    names = [f"r{i}" for i in range(len(counts))]
    ours = srm_p_value(dict(zip(names, counts, strict=True)), dict(zip(names, shares, strict=True)))
    if sum(counts) == 0:
        assert ours == 1.0
        return
    expected = shares * sum(counts)
    ref = stats.chisquare(counts, expected).pvalue
    assert ours == pytest.approx(ref, rel=1e-7, abs=1e-12)


def test_a_5_percent_canary_that_gets_4_percent_of_10000_is_flagged():
    p = srm_p_value({"canary": 400, "stable": 9600}, {"canary": 0.05, "stable": 0.95})
    assert p < SRM_P_THRESHOLD
    assert p == pytest.approx(stats.chisquare([400, 9600], [500, 9500]).pvalue, rel=1e-9)


def test_exact_splits_are_rarely_flagged_even_when_checked_every_tick():
    rng = np.random.default_rng(6001)
    # 1,000 rollouts; 100 ticks of 100 requests each at a true 5% split, cumulative counts
    canary = rng.binomial(100, 0.05, (1000, 100)).cumsum(1)
    total = 100 * np.arange(1, 101)
    shares = {"canary": 0.05, "stable": 0.95}
    final = [
        srm_p_value({"canary": int(c), "stable": int(10_000 - c)}, shares) for c in canary[:, -1]
    ]
    assert np.mean(np.array(final) < SRM_P_THRESHOLD) <= 0.05
    flagged_any = np.zeros(1000, dtype=bool)
    for tick in range(100):
        p = [
            srm_p_value({"canary": int(c), "stable": int(total[tick] - c)}, shares)
            for c in canary[:, tick]
        ]
        flagged_any |= np.array(p) < SRM_P_THRESHOLD
    assert flagged_any.mean() <= 0.05


def test_approximate_counts_widen_the_test():
    """Distinct sticky keys come from HyperLogLog (~0.81% error): 1% off on 100,000 keys is a
    mismatch for exact counts but counting noise for HLL estimates."""
    observed, shares = {"canary": 5050, "stable": 94_950}, {"canary": 0.05, "stable": 0.95}
    assert srm_p_value(observed, shares) > SRM_P_THRESHOLD  # 1% off on 5,000 is chance
    observed = {"canary": 4700, "stable": 95_300}
    assert srm_p_value(observed, shares) < SRM_P_THRESHOLD
    assert srm_p_value(observed, shares, count_relative_error=0.0081) > srm_p_value(
        observed, shares
    )


def test_a_release_at_share_zero_that_receives_traffic_is_a_mismatch():
    assert srm_p_value({"a": 0, "b": 100}, {"a": 0.0, "b": 1.0}) == 1.0
    assert srm_p_value({"a": 1, "b": 100}, {"a": 0.0, "b": 1.0}) == 0.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="differ from configured"):
        srm_p_value({"a": 1}, {"a": 0.5, "b": 0.5})
    with pytest.raises(ValueError, match="sum to 1"):
        srm_p_value({"a": 1, "b": 1}, {"a": 0.5, "b": 0.6})
    with pytest.raises(ValueError, match="negative"):
        srm_p_value({"a": -1, "b": 1}, {"a": 0.5, "b": 0.5})

"""The score guard (mean feedback score, half-normal mixture confidence sequence on the drop) by
seeded simulation: 5-level scores in 0..1, sums and sums of squares per tick as telemetry keeps
them, a look every tick at a 5% canary."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.rollout import metrics, sequential
from control.rollout.statistics import Moments, score_guard

LEVELS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
GOOD = np.array([0.05, 0.05, 0.20, 0.35, 0.35])  # mean 0.725, sd ~0.27
WORSE = np.array([0.08, 0.07, 0.22, 0.33, 0.30])  # mean 0.675: a drop of 0.05
ALPHA, TAU, PER_TICK = 0.05, 0.05, 200


def multinomial(rng, n, probs):
    """rng.multinomial over an array of n, as a chain of conditional binomials (much faster)."""
    counts, left, rest = [], n, 1.0
    for p in probs[:-1]:
        drawn = rng.binomial(left, min(p / rest, 1.0))
        counts.append(drawn)
        left, rest = left - drawn, rest - p
    counts.append(left)
    return np.stack(counts, axis=-1)


def simulate(rng, runs, ticks, canary_probs, baseline_probs):
    """Cumulative (n, sum, sum of squares) per arm, run and tick."""
    n_c = rng.binomial(PER_TICK, 0.05, (runs, ticks))
    arms = []
    for n, probs in ((n_c, canary_probs), (PER_TICK - n_c, baseline_probs)):
        levels = multinomial(rng, n, probs)  # (runs, ticks, 5) counts per score level
        arms.append((n.cumsum(1), (levels @ LEVELS).cumsum(1), (levels @ LEVELS**2).cumsum(1)))
    return arms


def fails(canary, baseline, tolerated=0.0):
    """fail = lower bound on the drop > `tolerated` = the mixture ratio reaches 1/alpha."""
    est, var = metrics.score_estimate(*canary, *baseline)
    log_ratio = sequential.log_half_normal_ratio((est - tolerated) / np.sqrt(var), TAU**2 / var)
    return log_ratio >= math.log(1 / ALPHA)


def test_levels_have_the_means_the_tests_claim():
    assert pytest.approx(0.725) == GOOD @ LEVELS and pytest.approx(0.675) == WORSE @ LEVELS


SKEWED = np.array([0.03, 0.0, 0.0, 0.0, 0.97])  # nearly all perfect: a small canary is skewed
EVEN = np.array([0.5, 0.0, 0.0, 0.0, 0.5])


@pytest.mark.parametrize("probs", [GOOD, SKEWED, EVEN], ids=["good", "skewed", "even"])
def test_no_difference_false_alarms_stay_below_alpha(probs):
    rng = np.random.default_rng(7001)
    canary, baseline = simulate(rng, 1000, 1000, probs, probs)  # ~10,000 canary scores
    alarms = fails(canary, baseline).any(axis=1).mean()
    assert alarms <= ALPHA


def test_a_drop_of_0_05_is_caught_with_80_percent_power():
    rng = np.random.default_rng(7002)
    canary, baseline = simulate(rng, 1000, 300, WORSE, GOOD)
    fail = fails(canary, baseline)
    n_c = canary[0]
    stops = np.where(fail.any(1), n_c[np.arange(1000), fail.argmax(1)], np.inf)
    assert (stops <= 600).mean() >= 0.80
    assert np.median(stops) <= 400


def test_simulated_decisions_are_the_guards_decisions():
    rng = np.random.default_rng(7003)
    canary, baseline = simulate(rng, 4, 100, WORSE, GOOD)
    fast = fails(canary, baseline)
    assert fast.any() and not fast.all()
    for run, tick in np.ndindex(4, 100):
        c = Moments(*(int(canary[0][run, tick]), *(float(a[run, tick]) for a in canary[1:])))
        b = Moments(*(int(baseline[0][run, tick]), *(float(a[run, tick]) for a in baseline[1:])))
        e = score_guard(c, b, tau=TAU, margin=0.05, alpha=ALPHA, min_samples=0)
        assert (e.verdict == "fail") == fast[run, tick]


def test_moments_that_cannot_come_from_one_sample_are_refused():
    with pytest.raises(ValueError, match="total_sq"):
        Moments(n=10, total=5.0, total_sq=1.0)
    with pytest.raises(ValueError, match="n = 0"):
        Moments(n=0, total=1.0, total_sq=1.0)
    with pytest.raises(ValueError, match="finite"):
        Moments(n=2, total=float("nan"), total_sq=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        Moments(n=-1, total=0.0, total_sq=0.0)


def test_identical_scores_still_have_a_width():
    same = Moments(n=100, total=100.0, total_sq=100.0)
    e = score_guard(same, same, tau=TAU, margin=0.01, alpha=ALPHA, min_samples=10)
    assert e.lower < -0.01 and e.upper > 0.01 and e.verdict == "inconclusive"


scores = st.lists(st.floats(0.0, 1.0), min_size=0, max_size=300)


@settings(max_examples=200, deadline=None)
@given(canary=scores, baseline=scores, alpha=st.floats(0.001, 0.2), margin=st.floats(0, 0.2))
def test_bounds_are_ordered_and_the_verdict_follows_them(canary, baseline, alpha, margin):
    def moments(xs):
        return Moments(n=len(xs), total=float(sum(xs)), total_sq=float(sum(x * x for x in xs)))

    e = score_guard(moments(canary), moments(baseline), tau=TAU, margin=margin, alpha=alpha,
                    min_samples=0)  # fmt: skip
    assert e.lower <= e.estimate <= e.upper
    assert e.verdict == ("fail" if e.lower > 0 else "pass" if e.upper < margin else "inconclusive")

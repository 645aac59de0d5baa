"""The rare-event guard (beta-binomial mixture on the canary's share of errors) by seeded
simulation at the controller's target scale: 200 req/s on the route, a 5% canary, a look every
second. Its numeric parts are checked against scipy."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from control.rollout import metrics, sequential
from control.rollout.statistics import Counts, rare_rate_guard, split_alpha

ALPHA = split_alpha(0.05, 4)  # a rollout guarding four metrics
RATIO, STRENGTH = 4.0, 20.0  # the guard's defaults
CANARY_PER_S, BASELINE_PER_S = 10, 190  # 200 req/s at a 5% canary


def simulate(rng, runs, seconds, p_canary, p_baseline):
    """Cumulative per-second (x_c, n_c, x_b, n_b); calls per second are Poisson around the rate."""
    n_c = rng.poisson(CANARY_PER_S, (runs, seconds))
    n_b = rng.poisson(BASELINE_PER_S, (runs, seconds))
    x_c, x_b = rng.binomial(n_c, p_canary), rng.binomial(n_b, p_baseline)
    return x_c.cumsum(1), n_c.cumsum(1), x_b.cumsum(1), n_b.cumsum(1)


def fails(x_c, n_c, x_b, n_b, alpha=ALPHA):
    """fail at each look = the share's lower confidence bound is above pi0, i.e. the mixture
    ratio against pi0 reaches 1/alpha while the canary holds more than its share of errors."""
    p0 = n_c / (n_c + n_b)
    a, b = metrics.rare_prior(p0, RATIO, STRENGTH)
    log_ratio = sequential.log_beta_binomial_ratio(x_c, x_b, p0, a, b)
    return (log_ratio >= math.log(1 / alpha)) & (x_c > p0 * (x_c + x_b))


@pytest.mark.parametrize("rate", [0.001, 0.01, 0.05])
def test_no_difference_false_alarms_stay_below_alpha(rate):
    rng = np.random.default_rng(9001)
    x_c, n_c, x_b, n_b = simulate(rng, 1000, 900, rate, rate)  # 15 minutes, ~9,000 canary calls
    alarms = fails(x_c, n_c, x_b, n_b).any(axis=1).mean()
    assert alarms <= ALPHA, f"{alarms:.4f} > {ALPHA} at error rate {rate}"


@pytest.mark.parametrize("rate", [0.001, 0.01, 0.05])
def test_cumulative_counts_over_changing_steps_keep_false_alarms_below_alpha(rate):
    """pi0 moves with the split (1 -> 5 -> 25 -> 50%); judged on counts cumulative since the
    start, the test stays valid (given m, the canary's errors are hypergeometric at every look)."""
    rng = np.random.default_rng(9005)
    shares = np.repeat([0.01, 0.05, 0.25, 0.50], 225)
    n = rng.poisson(CANARY_PER_S + BASELINE_PER_S, (1000, shares.size))
    n_c = rng.binomial(n, shares)
    x_c, x_b = rng.binomial(n_c, rate), rng.binomial(n - n_c, rate)
    arms = x_c.cumsum(1), n_c.cumsum(1), x_b.cumsum(1), (n - n_c).cumsum(1)
    assert fails(*arms, alpha=0.05).any(axis=1).mean() <= 0.05


def canary_calls_to_detect(seed, runs=4000, p_canary=0.10, seconds=120, min_samples=20):
    rng = np.random.default_rng(seed)
    x_c, n_c, x_b, n_b = simulate(rng, runs, seconds, p_canary, 0.01)
    fail = fails(x_c, n_c, x_b, n_b) & (n_c >= min_samples)
    first = fail.argmax(axis=1)
    calls = np.where(fail.any(axis=1), n_c[np.arange(runs), first], np.inf)
    seconds_to = np.where(fail.any(axis=1), first + 1, np.inf)
    return calls, seconds_to


def test_error_jump_1_to_10_percent_is_caught_within_150_canary_calls():
    """The statistics' share of the controller's target (rolled back within 15 s and 150 canary
    calls): the median run needs ~45 canary calls; about 1 run in 100 needs more than 150, when
    the canary happens to draw few errors early (a Poisson tail no test can avoid at this alpha).
    """
    calls, seconds = canary_calls_to_detect(9002)
    assert np.median(calls) <= 60
    assert np.quantile(calls, 0.95) <= 120
    assert np.quantile(seconds, 0.95) <= 12
    assert (calls > 150).mean() <= 0.02


def test_smaller_rises_are_caught_given_more_calls():
    calls, _ = canary_calls_to_detect(9003, runs=1000, p_canary=0.03, seconds=600)
    assert (calls < np.inf).mean() >= 0.95  # 1% -> 3% within 10 minutes (~6,000 canary calls)


def test_simulated_decisions_are_the_guards_decisions():
    rng = np.random.default_rng(9004)
    x_c, n_c, x_b, n_b = simulate(rng, 20, 30, 0.06, 0.01)
    fast = fails(x_c, n_c, x_b, n_b)
    assert fast.any() and not fast.all()
    for run, second in np.ndindex(20, 30):
        evidence = rare_rate_guard(
            Counts(int(n_c[run, second]), int(x_c[run, second])),
            Counts(int(n_b[run, second]), int(x_b[run, second])),
            alpha=ALPHA,
            min_samples=0,
        )
        assert (evidence.verdict == "fail") == fast[run, second], (run, second, evidence)


def test_no_errors_is_not_a_pass_until_enough_calls():
    few = rare_rate_guard(Counts(100, 0), Counts(1900, 0), alpha=ALPHA, min_samples=20)
    assert few.verdict == "inconclusive"
    many = rare_rate_guard(Counts(5000, 0), Counts(95_000, 0), alpha=ALPHA, min_samples=20)
    assert many.verdict == "pass" and many.upper < 0.01


def test_numeric_parts_match_scipy():
    z = np.linspace(0.01, 500.0, 2000)
    assert np.max(np.abs(sequential.log_gamma(z) - special.gammaln(z))) < 1e-9
    x = np.linspace(-30.0, 8.0, 2000)
    assert np.max(np.abs(sequential.normal_cdf(x) / special.ndtr(x) - 1)) < 2e-7
    # the mixture ratio is the beta-binomial marginal over the binomial likelihood at p0
    xs, ys, p0, a, b = 7, 40, 0.05, 0.4, 7.6
    ref = stats.betabinom.logpmf(xs, xs + ys, a, b) - stats.binom.logpmf(xs, xs + ys, p0)
    assert sequential.log_beta_binomial_ratio(xs, ys, p0, a, b) == pytest.approx(ref, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    n_c=st.integers(0, 5000),
    n_b=st.integers(0, 100_000),
    data=st.data(),
    alpha=st.floats(0.001, 0.2),
)
def test_bounds_are_ordered_and_the_verdict_follows_them(n_c, n_b, data, alpha):
    c = Counts(n_c, data.draw(st.integers(0, min(n_c, 500))))
    b = Counts(n_b, data.draw(st.integers(0, min(n_b, 2000))))
    e = rare_rate_guard(c, b, alpha=alpha, min_samples=0)
    assert -1.0 <= e.lower <= e.estimate <= e.upper <= 1.0
    assert all(math.isfinite(v) for v in (e.estimate, e.lower, e.upper, e.statistic))
    assert e.verdict == ("fail" if e.lower > 0 else "pass" if e.upper < 0.01 else "inconclusive")

"""The rate guard (half-normal mSPRT confidence sequence) by seeded simulation: false alarms under
no difference with a look every tick, power for thumbs-down 10% -> 12% at a 5% canary, and the
naive per-look z-test that the guard replaces. Simulated counts are cumulative per tick (numpy),
judged with the same array core the guard uses; a subsample is re-judged through the guard.
"""

import math

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.rollout import metrics
from control.rollout.statistics import Counts, Evidence, hard_ceiling, rate_guard, split_alpha

ALPHA = 0.05
TAU = 0.02
PER_TICK = 200  # rated responses per tick on the route (canary + baseline)


def simulate(
    rng: np.random.Generator, runs: int, shares: np.ndarray, p_canary: float, p_baseline: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (x_c, n_c, x_b, n_b) per run and tick; the canary share may change per tick."""
    n_c = rng.binomial(PER_TICK, np.broadcast_to(shares, (runs, shares.size)))
    n_b = PER_TICK - n_c
    x_c = rng.binomial(n_c, p_canary)
    x_b = rng.binomial(n_b, p_baseline)
    return x_c.cumsum(1), n_c.cumsum(1), x_b.cumsum(1), n_b.cumsum(1)


def fails(x_c, n_c, x_b, n_b, *, alpha=ALPHA, tau=TAU, tolerated=0.0) -> np.ndarray:
    """fail at each look: the mixture ratio against `tolerated` reaches 1/alpha, which is exactly
    "lower bound > tolerated" (checked below against the bounds and the guard)."""
    return metrics.rate_log_ratio(x_c, n_c, x_b, n_b, tolerated, tau) >= math.log(1 / alpha)


def first_fail_canary_n(fail: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    """Canary samples at the first failing look of each run (inf when it never fails)."""
    hit = fail.any(axis=1)
    first = fail.argmax(axis=1)
    return np.where(hit, n_c[np.arange(len(n_c)), first], np.inf)


FIVE_PERCENT = np.full(1000, 0.05)  # 1,000 ticks at a 5% canary: ~10,000 canary samples
STEPPED = np.repeat([0.01, 0.05, 0.25, 0.50], 250)  # the same 1,000 ticks over four steps


@pytest.mark.parametrize("rate", [0.01, 0.02, 0.10, 0.30])
@pytest.mark.parametrize("shares", [FIVE_PERCENT, STEPPED], ids=["5pct", "stepped"])
def test_no_difference_rolls_back_at_most_alpha_of_rollouts(rate, shares):
    rng = np.random.default_rng(8001)
    x_c, n_c, x_b, n_b = simulate(rng, 1000, shares, rate, rate)
    rolled_back = fails(x_c, n_c, x_b, n_b).any(axis=1).mean()
    assert rolled_back <= ALPHA, f"{rolled_back:.3f} of null rollouts rolled back at rate {rate}"


def test_naive_z_test_at_every_look_exceeds_alpha_in_the_same_harness():
    """Why not a z-test per look: each look spends alpha again, so over a rollout the chance of a
    false rollback grows far past alpha, while the mixture test on the same data stays below."""
    rng = np.random.default_rng(8002)
    x_c, n_c, x_b, n_b = simulate(rng, 1000, FIVE_PERCENT, 0.10, 0.10)
    p_c, p_b = x_c / n_c, x_b / n_b
    z = (p_c - p_b) / np.sqrt(p_c * (1 - p_c) / n_c + p_b * (1 - p_b) / n_b)
    naive = (z > 1.6448536269514722).any(axis=1).mean()
    mixture = fails(x_c, n_c, x_b, n_b).any(axis=1).mean()
    assert mixture <= ALPHA
    assert naive > 3 * ALPHA, f"naive per-look z-test rolled back {naive:.3f}"


def thumbs_down_stops(seed: int, runs: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x_c, n_c, x_b, n_b = simulate(rng, runs, np.full(400, 0.05), 0.12, 0.10)
    return first_fail_canary_n(fails(x_c, n_c, x_b, n_b), n_c)


def test_thumbs_down_10_to_12_percent_caught_with_80_percent_power_by_about_2700():
    """statistics.md §4.3: ~2,700 rated canary responses for 80% power at a 5% canary."""
    stops = thumbs_down_stops(8003)
    assert (stops <= 2700).mean() >= 0.80
    assert np.median(stops) < 1600


def test_simulated_decisions_are_the_guards_decisions():
    """The fast array check above is the guard: re-judge a subsample through rate_guard."""
    rng = np.random.default_rng(8004)
    x_c, n_c, x_b, n_b = simulate(rng, 40, np.full(60, 0.05), 0.13, 0.10)
    fast = fails(x_c, n_c, x_b, n_b)
    _, lower, _ = metrics.rate_bounds(x_c, n_c, x_b, n_b, TAU, ALPHA)
    assert np.array_equal(fast, lower > 0)
    for run, tick in np.ndindex(4, 60):
        run = run * 10
        evidence = rate_guard(
            Counts(int(n_c[run, tick]), int(x_c[run, tick])),
            Counts(int(n_b[run, tick]), int(x_b[run, tick])),
            tau=TAU, margin=0.01, alpha=ALPHA, min_samples=0,
        )  # fmt: skip
        assert (evidence.verdict == "fail") == fast[run, tick]
    assert fast.any() and not fast.all()


def test_a_good_canary_passes_within_the_margin():
    rng = np.random.default_rng(8005)
    x_c, n_c, x_b, n_b = simulate(rng, 200, np.full(1000, 0.05), 0.10, 0.10)
    _, lower, upper = metrics.rate_bounds(
        x_c[:, -1], n_c[:, -1], x_b[:, -1], n_b[:, -1], TAU, ALPHA
    )
    assert (upper < 0.03).mean() >= 0.95  # ~10,000 canary samples bound the rise below 3 pp
    assert (lower > 0).mean() <= ALPHA


counts = st.integers(0, 20_000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))


@settings(max_examples=100, deadline=None)
@given(
    canary=counts,
    baseline=counts,
    tau=st.floats(0.002, 0.2),
    alpha=st.floats(0.001, 0.2),
    tolerated=st.floats(-0.05, 0.05),
    margin=st.floats(0.0, 0.1),
)
def test_bounds_are_ordered_and_the_verdict_follows_them(
    canary, baseline, tau, alpha, tolerated, margin
):
    c, b = Counts(*canary), Counts(*baseline)
    e = rate_guard(c, b, tau=tau, margin=margin, tolerated=tolerated, alpha=alpha, min_samples=0)
    assert -1.0 <= e.lower <= e.estimate <= e.upper <= 1.0
    assert all(math.isfinite(v) for v in (e.estimate, e.lower, e.upper, e.statistic))
    assert e.verdict == (
        "fail" if e.lower > tolerated else "pass" if e.upper < margin else "inconclusive"
    )
    if abs(e.lower - tolerated) > 1e-9:
        assert (e.statistic >= 1 / alpha) == (e.verdict == "fail")
    tighter = rate_guard(c, b, tau=tau, margin=margin, alpha=alpha / 10, min_samples=0)
    assert tighter.lower <= e.lower + 1e-9 and tighter.upper >= e.upper - 1e-9


def test_min_samples_holds_any_verdict_even_on_a_glaring_regression():
    glaring = Counts(n=49, events=40)
    baseline = Counts(n=10_000, events=100)
    early = rate_guard(glaring, baseline, tau=TAU, margin=0.01, alpha=ALPHA, min_samples=50)
    assert early.verdict == "inconclusive" and "waiting for samples" in early.detail
    assert early.lower > 0  # the evidence is shown, only the verdict waits
    later = rate_guard(
        Counts(n=50, events=41), baseline, tau=TAU, margin=0.01, alpha=ALPHA, min_samples=50
    )
    assert later.verdict == "fail"
    assert hard_ceiling(glaring, ceiling=0.2, min_n=20)


def test_hard_ceiling_needs_both_the_rate_and_the_calls():
    assert not hard_ceiling(Counts(n=19, events=19), ceiling=0.2, min_n=20)
    assert not hard_ceiling(Counts(n=20, events=4), ceiling=0.2, min_n=20)  # exactly 20%: not above
    assert hard_ceiling(Counts(n=20, events=5), ceiling=0.2, min_n=20)
    with pytest.raises(ValueError, match="ceiling"):
        hard_ceiling(Counts(n=20, events=5), ceiling=1.5, min_n=20)
    with pytest.raises(ValueError, match="min_n"):
        hard_ceiling(Counts(n=20, events=5), ceiling=0.2, min_n=0)


def test_split_alpha_is_bonferroni_and_rejects_nonsense():
    assert split_alpha(0.05, 1) == 0.05
    assert split_alpha(0.05, 4) == pytest.approx(0.0125)
    with pytest.raises(ValueError, match="guards"):
        split_alpha(0.05, 0)
    with pytest.raises(ValueError, match="alpha"):
        split_alpha(1.0, 2)


def test_bad_parameters_and_counts_are_named():
    with pytest.raises(ValueError, match="events"):
        Counts(n=3, events=4)
    with pytest.raises(ValueError, match=">= 0"):
        Counts(n=-3, events=-4)
    with pytest.raises(msgspec.ValidationError, match=r"\$.n"):
        msgspec.json.decode(b'{"n": -1, "events": 0}', type=Counts)
    with pytest.raises(ValueError, match="tau"):
        rate_guard(Counts(10, 1), Counts(10, 1), tau=0.0, margin=0.01, alpha=0.05, min_samples=0)
    with pytest.raises(ValueError, match="alpha"):
        rate_guard(Counts(10, 1), Counts(10, 1), tau=0.02, margin=0.01, alpha=0, min_samples=0)


def test_evidence_round_trips_as_json_for_the_controller_to_store():
    evidence = rate_guard(
        Counts(n=2000, events=260), Counts(n=38_000, events=3800),
        tau=TAU, margin=0.01, alpha=ALPHA, min_samples=100, metric="thumbs_down_rate",
    )  # fmt: skip
    assert evidence.verdict == "fail" and evidence.metric == "thumbs_down_rate"
    encoded = msgspec.json.encode(evidence)
    assert msgspec.json.decode(encoded, type=Evidence) == evidence
    with pytest.raises(msgspec.ValidationError, match="verdict"):
        msgspec.json.decode(encoded.replace(b'"fail"', b'"maybe"'), type=Evidence)

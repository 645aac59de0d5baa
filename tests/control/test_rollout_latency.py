"""The latency guard on histogram buckets: Mann-Whitney against scipy on the same bucketed data,
the Hodges-Lehmann shift, power at the sample sizes of statistics.md §4.2 (log-normal latencies),
false alarms under identical distributions, and the tail check a rank test cannot do."""

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from control.rollout import ranks
from control.rollout.statistics import latency_guard
from gateway.contract.histogram import BASE_S, COUNT, GROWTH, UPPER_BOUNDS_S, bucket_index

MEDIAN_S = 0.5


def bucketed(samples: np.ndarray) -> np.ndarray:
    """Bucket indices exactly as gateway.contract.histogram.bucket_index, vectorised."""
    raw = np.ceil(np.log(samples / BASE_S) / math.log(GROWTH) - 1e-9)
    return np.clip(np.where(samples <= BASE_S, 0, raw), 0, COUNT - 1).astype(np.int64)


def bucket_probabilities(sigma: float, slower: float = 1.0) -> np.ndarray:
    """Chance that a log-normal latency (median MEDIAN_S·slower) lands in each bucket."""
    edges = np.log(np.array(UPPER_BOUNDS_S))
    below = stats.norm.cdf((edges - math.log(MEDIAN_S * slower)) / sigma)
    return np.diff(np.concatenate(([0.0], below, [1.0])))


def histograms(rng, runs: int, n: int, sigma: float, slower: float = 1.0) -> np.ndarray:
    """(runs, COUNT) bucket counts of n log-normal latencies per run: multinomial on the bucket
    probabilities, which is exactly bucketing n samples (checked below) and much faster."""
    return rng.multinomial(n, bucket_probabilities(sigma, slower), size=runs)


def test_histograms_are_bucketed_samples():
    rng = np.random.default_rng(10)
    samples = rng.lognormal(math.log(MEDIAN_S * 1.3), 0.8, 200_000)
    empirical = np.bincount(bucketed(samples), minlength=COUNT) / samples.size
    assert np.max(np.abs(empirical - bucket_probabilities(0.8, 1.3))) < 0.003


def test_vectorised_bucketing_is_the_gateways():
    values = np.geomspace(1e-5, 500.0, 5000)
    assert bucketed(values).tolist() == [bucket_index(float(v)) for v in values]


@pytest.mark.parametrize("seed", range(5))
def test_mann_whitney_matches_scipy_on_the_same_bucketed_data(seed):
    rng = np.random.default_rng(seed)
    canary = histograms(rng, 1, int(rng.integers(5, 400)), 0.8, 1.1)[0]
    baseline = histograms(rng, 1, int(rng.integers(5, 4000)), 0.8)[0]
    ours = ranks.mann_whitney(canary.astype(float), baseline.astype(float))
    x = np.repeat(np.arange(COUNT), canary)
    y = np.repeat(np.arange(COUNT), baseline)
    ref = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
    assert ours.u == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_greater == pytest.approx(ref.pvalue, rel=1e-5, abs=1e-12)


def test_hodges_lehmann_reads_an_exact_shift_of_whole_buckets():
    rng = np.random.default_rng(11)
    baseline = histograms(rng, 1, 3000, 0.5)[0].astype(float)
    canary = np.roll(baseline, 2)  # every request exactly two buckets (1.2² = 1.44 times) slower
    shift, low, high = ranks.pairwise_quantiles(canary, baseline, (0.5, 0.1, 0.9))
    assert shift == pytest.approx(2.0, abs=0.05)
    assert low < shift < high


def guard_verdicts(canary: np.ndarray, baseline: np.ndarray, alpha: float, tolerance: float = 0.0):
    return [
        latency_guard(c.tolist(), b.tolist(), alpha=alpha, tolerance=tolerance, min_samples=50)
        for c, b in zip(canary, baseline, strict=True)
    ]


@pytest.mark.parametrize(("sigma", "slower", "n"), [(0.5, 1.20, 100), (0.8, 1.10, 914)])
def test_a_slower_median_at_the_sizes_of_section_4_2_is_detected(sigma, slower, n):
    """Noether's n per arm for 80% power at alpha = 0.05 one-sided: the rank test on buckets
    reaches it, and the guard, which spends alpha/2 on the shift, fails most such canaries."""
    rng = np.random.default_rng(12)
    canary = histograms(rng, 300, n, sigma, slower)
    baseline = histograms(rng, 300, n, sigma)
    pairs = zip(canary * 1.0, baseline * 1.0, strict=True)
    p = np.array([ranks.mann_whitney(c, b).p_greater for c, b in pairs])
    assert (p < 0.05).mean() >= 0.75
    failed = np.mean([e.verdict == "fail" for e in guard_verdicts(canary, baseline, 0.05)])
    assert failed >= 0.65


@pytest.mark.parametrize(("sigma", "n_canary"), [(0.5, 200), (1.0, 1000)])
def test_identical_latencies_fail_at_most_alpha(sigma, n_canary):
    rng = np.random.default_rng(13)
    canary = histograms(rng, 1000, n_canary, sigma)
    baseline = histograms(rng, 1000, 19 * n_canary, sigma)
    failed = np.mean([e.verdict == "fail" for e in guard_verdicts(canary, baseline, 0.05)])
    assert failed <= 0.05


def test_a_fatter_tail_with_the_same_median_fails_on_p99():
    rng = np.random.default_rng(14)
    baseline = histograms(rng, 1, 20_000, 0.5)[0]
    body = histograms(rng, 1, 1900, 0.5)[0]
    tail = histograms(rng, 1, 100, 0.3, slower=8.0)[0]  # 5% of canary requests 8 times slower
    evidence = latency_guard((body + tail).tolist(), baseline.tolist(), alpha=0.05,
                             tolerance=0.1, min_samples=100)  # fmt: skip
    assert evidence.verdict == "fail"
    assert "p99 regression" in evidence.detail
    assert evidence.lower < 0.1  # the median shift alone would not have failed it


@pytest.mark.parametrize("q", [0.95, 0.99])
def test_tail_quantile_bounds_cover_the_true_quantile(q):
    """Each one-sided bound misses the true quantile in at most alpha of the samples."""
    sigma, alpha = 0.8, 0.05
    true_s = MEDIAN_S * math.exp(sigma * stats.norm.ppf(q))
    rng = np.random.default_rng(17)
    bounds = np.array(
        [ranks.quantile_bounds(h * 1.0, q, alpha) for h in histograms(rng, 2000, 2000, sigma)]
    )
    assert (bounds[:, 0] > true_s).mean() <= alpha
    assert (bounds[:, 1] < true_s).mean() <= alpha
    assert np.median(bounds[:, 1] / bounds[:, 0]) < 2.5  # and they are not uselessly wide


def test_min_samples_and_bad_buckets():
    rng = np.random.default_rng(15)
    few = histograms(rng, 1, 30, 0.5, 3.0)[0].tolist()
    many = histograms(rng, 1, 3000, 0.5)[0].tolist()
    e = latency_guard(few, many, alpha=0.05, tolerance=0.1, min_samples=50)
    assert e.verdict == "inconclusive" and "waiting for samples" in e.detail
    with pytest.raises(ValueError, match="82 latency buckets"):
        latency_guard([1, 2, 3], many, alpha=0.05, tolerance=0.1, min_samples=50)
    with pytest.raises(ValueError, match="negative"):
        latency_guard([-1, *many[1:]], many, alpha=0.05, tolerance=0.1, min_samples=50)


def test_one_look_is_cheap():
    rng = np.random.default_rng(16)
    canary, baseline = (
        histograms(rng, 1, 5000, 1.0)[0].tolist(),
        histograms(rng, 1, 95_000, 1.0)[0].tolist(),
    )
    start = time.perf_counter()
    for _ in range(20):
        latency_guard(canary, baseline, alpha=0.01, tolerance=0.1, min_samples=50)
    assert (time.perf_counter() - start) / 20 < 0.01


@settings(max_examples=100, deadline=None)
@given(
    canary=st.lists(st.integers(0, 50), min_size=COUNT, max_size=COUNT),
    baseline=st.lists(st.integers(0, 500), min_size=COUNT, max_size=COUNT),
    alpha=st.floats(0.001, 0.2),
    tolerance=st.floats(0.0, 0.5),
)
def test_bounds_are_ordered_and_the_verdict_follows_them(canary, baseline, alpha, tolerance):
    e = latency_guard(canary, baseline, alpha=alpha, tolerance=tolerance, min_samples=1)
    assert -1.0 <= e.lower <= e.estimate <= e.upper
    if e.verdict == "pass":
        assert e.upper < tolerance
    if e.lower > tolerance:
        assert e.verdict == "fail"
    if e.verdict == "fail" and e.lower <= tolerance:
        assert "regression" in e.detail and e.detail.startswith("p9")

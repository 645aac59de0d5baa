"""Prints the measured error rates of the rollout guards, from the same seeded simulations the
tests assert on: `.venv/bin/python -m tests.control.rollout_figures` (about 10 s)."""

import numpy as np

from control.rollout.srm import SRM_SEQUENTIAL_ALPHA
from control.rollout.statistics import SRM_P_THRESHOLD, srm_p_value
from tests.control import test_group_rollout_alpha as group
from tests.control import test_rollout_latency as latency
from tests.control import test_rollout_rare as rare
from tests.control import test_rollout_rates as rates
from tests.control import test_rollout_score as score
from tests.control import test_rollout_srm as srm


def rate_figures() -> None:
    for label, shares in (("5% canary", rates.FIVE_PERCENT), ("steps 1/5/25/50%", rates.STEPPED)):
        for rate in (0.01, 0.02, 0.10, 0.30):
            arms = rates.simulate(np.random.default_rng(8001), 1000, shares, rate, rate)
            alarms = rates.fails(*arms).any(axis=1).mean()
            print(f"rate guard, no difference at {rate:.0%}, {label}, look every tick: "
                  f"{alarms:.1%} of 1,000 rollouts rolled back")  # fmt: skip
    x_c, n_c, x_b, n_b = rates.simulate(
        np.random.default_rng(8002), 1000, rates.FIVE_PERCENT, 0.1, 0.1
    )
    p_c, p_b = x_c / n_c, x_b / n_b
    z = (p_c - p_b) / np.sqrt(p_c * (1 - p_c) / n_c + p_b * (1 - p_b) / n_b)
    print(f"naive z-test per look, same harness: {(z > 1.6448536269514722).any(axis=1).mean():.1%}")
    stops = rates.thumbs_down_stops(8003)
    print(f"thumbs-down 10% -> 12% at 5% canary (tau 0.02, alpha 0.05, 2,000 runs): power "
          f"{(stops <= 2700).mean():.1%} by 2,700 rated canary responses, median stop "
          f"{np.median(stops):.0f}, 80% by {np.quantile(stops, 0.8):.0f}")  # fmt: skip


def rare_figures() -> None:
    for rate in (0.001, 0.01, 0.05):
        arms = rare.simulate(np.random.default_rng(9001), 1000, 900, rate, rate)
        print(f"rare guard, no difference at {rate:.1%} (alpha {rare.ALPHA}): "
              f"{rare.fails(*arms).any(axis=1).mean():.2%} false alarms over 15 min")  # fmt: skip
    calls, seconds = rare.canary_calls_to_detect(9002)
    print(f"errors 1% -> 10% at 5% of 200 req/s (4,000 runs): canary calls to fail median "
          f"{np.median(calls):.0f}, 95% {np.quantile(calls, 0.95):.0f}, worst {calls.max():.0f}; "
          f"> 150 calls in {(calls > 150).mean():.1%}; seconds median {np.median(seconds):.0f}, "
          f"worst {seconds.max():.0f}; worst of 20 runs {calls[:20].max():.0f}")  # fmt: skip
    for p in (0.03, 0.02):
        calls, _ = rare.canary_calls_to_detect(9003, runs=1000, p_canary=p, seconds=900)
        print(f"errors 1% -> {p:.0%}: median canary calls {np.median(calls):.0f}, "
              f"caught within 15 min {(calls < np.inf).mean():.1%}")  # fmt: skip


def score_figures() -> None:
    arms = score.simulate(np.random.default_rng(7001), 1000, 1000, score.GOOD, score.GOOD)
    print(f"score guard, no difference: {score.fails(*arms).any(axis=1).mean():.1%} false alarms")
    canary, baseline = score.simulate(
        np.random.default_rng(7002), 1000, 300, score.WORSE, score.GOOD
    )
    fail = score.fails(canary, baseline)
    stops = np.where(fail.any(1), canary[0][np.arange(1000), fail.argmax(1)], np.inf)
    print(f"score drop 0.725 -> 0.675 (tau 0.05): median stop {np.median(stops):.0f} canary "
          f"scores, 80% by {np.quantile(stops, 0.8):.0f}")  # fmt: skip


def latency_figures() -> None:
    for sigma, slower, n in ((0.5, 1.2, 100), (0.8, 1.1, 914), (1.0, 1.05, 5442)):
        rng = np.random.default_rng(12)
        canary = latency.histograms(rng, 300, n, sigma, slower)
        baseline = latency.histograms(rng, 300, n, sigma)
        verdicts = latency.guard_verdicts(canary, baseline, 0.05)
        p = [
            latency.ranks.mann_whitney(c * 1.0, b * 1.0).p_greater
            for c, b in zip(canary, baseline, strict=True)
        ]
        print(f"latency sigma {sigma}, median x{slower}, {n}/arm: MW power at 0.05 "
              f"{np.mean(np.array(p) < 0.05):.1%}, guard fails "
              f"{np.mean([e.verdict == 'fail' for e in verdicts]):.1%}")  # fmt: skip
    for sigma, n in ((0.5, 200), (1.0, 1000)):
        rng = np.random.default_rng(13)
        canary = latency.histograms(rng, 1000, n, sigma)
        baseline = latency.histograms(rng, 1000, 19 * n, sigma)
        verdicts = latency.guard_verdicts(canary, baseline, 0.05)
        failed = np.mean([e.verdict == "fail" for e in verdicts])
        print(f"latency identical (sigma {sigma}, {n} vs {19 * n}): {failed:.1%} fail at 0.05")


def srm_figures() -> None:
    p = srm_p_value({"canary": 400, "stable": 9600}, {"canary": 0.05, "stable": 0.95})
    print(f"SRM 4% of 10,000 at a configured 5%: chi-square p = {p:.2g}")
    held = srm.exact_split_holds(6101)
    print(
        f"SRM exact 5% splits, 1,000 steps, a look every tick: sequential (alpha "
        f"{SRM_SEQUENTIAL_ALPHA}) holds {held['requests']:.1%} on requests, {held['keys']:.1%} on "
        f"HLL keys, {held['both']:.1%} on either; chi-square p < {SRM_P_THRESHOLD} per tick "
        f"{held['chi_square']:.1%}"
    )
    print(f"SRM 4% instead of 5%: {srm.four_percent_caught(6102):.1%} of steps held by 10,000")
    caught, median = srm.pinned_caught(6103)
    print(f"SRM 3 calls a tick pinned to a 5% canary: {caught:.1%} held, median {median:.0f} calls")
    by_requests, by_keys = srm.zipf_holds(6104)
    print(
        f"SRM Zipf(1.1) sticky users, exact split: {by_requests:.1%} held on requests, "
        f"{by_keys:.1%} on keys"
    )


def group_figures() -> None:
    pooled, alone = group.false_rollbacks(8101)
    print(f"group of 3 routes, no regression, pooled guards (alpha {group.ALPHA} split over 2): "
          f"{pooled:.1%} of 1,000 group rollouts rolled back; each route's thumbs-down judged "
          f"alone at the same alpha, any route rolling back the group: {alone:.1%}")  # fmt: skip
    print(f"group, thumbs-down 10% -> 20% on the middling route only: "
          f"{group.one_bad_route_caught(8102):.1%} of 500 group rollouts rolled back")  # fmt: skip


if __name__ == "__main__":
    rate_figures()
    rare_figures()
    score_figures()
    latency_figures()
    srm_figures()
    group_figures()

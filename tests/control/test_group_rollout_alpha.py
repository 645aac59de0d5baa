"""A group rollout's combined guards by seeded simulation, in the harness of the route guards
(tests/control/test_rollout_rates.py, test_rollout_rare.py): three routes of very different
traffic and base rates, one canary share for all (the group's steps), a look every tick.

Under no regression on any route, the pooled guards (thumbs-down and errors, alpha split across
the two as for one route) roll the group back in at most alpha of rollouts, so pooling spends no
extra alpha per route; a regression on one route of three is still caught; a subsample is
re-judged through the controller's own decision (`combined.look`), so the fast array check is
what the controller does.
"""

import numpy as np

from control.grouprollout import combined
from control.grouprollout.model import GroupRollout, GroupStep, Member
from control.rollout.model import GuardIn
from control.rollout.policy import resolve_guard
from control.rollout.statistics import split_alpha
from control.stats.compute import Totals
from gateway.contract import telemetry as tk
from tests.control import test_rollout_rare as rare
from tests.control import test_rollout_rates as rates

ALPHA = 0.05
GUARD_ALPHA = split_alpha(ALPHA, 2)  # thumbs-down and errors
# (calls per tick, thumbs-down rate, error rate) of each route: a busy cheap route, a middling
# one, a rare expensive one whose rates are far higher
ROUTES = ((120, 0.02, 0.002), (60, 0.10, 0.01), (20, 0.30, 0.05))
SHARES = rates.STEPPED  # 1,000 ticks over the steps 1/5/25/50%
Arms = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def simulate(
    rng: np.random.Generator, runs: int, worse: dict[int, tuple[float, float]] | None = None
) -> tuple[Arms, Arms, list[Arms]]:
    """Cumulative pooled thumbs-down and error arms (x_c, n_c, x_b, n_b), and each route's
    thumbs-down arms. `worse`: route index -> its canary's (thumbs-down, error) rates."""
    shares = np.broadcast_to(SHARES, (runs, SHARES.size))
    thumbs = [np.zeros((runs, SHARES.size), dtype=np.int64) for _ in range(4)]
    errors = [np.zeros((runs, SHARES.size), dtype=np.int64) for _ in range(4)]
    per_route = []
    for index, (per_tick, down, error) in enumerate(ROUTES):
        canary_down, canary_error = (worse or {}).get(index, (down, error))
        n_c = rng.binomial(per_tick, shares)
        n_b = per_tick - n_c
        route_thumbs = (rng.binomial(n_c, canary_down), n_c, rng.binomial(n_b, down), n_b)
        route_errors = (rng.binomial(n_c, canary_error), n_c, rng.binomial(n_b, error), n_b)
        for total, part in zip(thumbs, route_thumbs, strict=True):
            total += part
        for total, part in zip(errors, route_errors, strict=True):
            total += part
        per_route.append(tuple(a.cumsum(1) for a in route_thumbs))
    pooled_thumbs = tuple(a.cumsum(1) for a in thumbs)
    pooled_errors = tuple(a.cumsum(1) for a in errors)
    return pooled_thumbs, pooled_errors, per_route  # type: ignore[return-value]


def group_fails(thumbs: Arms, errors: Arms) -> np.ndarray:
    """Per run and tick: either pooled guard fails at its share of alpha."""
    return rates.fails(*thumbs, alpha=GUARD_ALPHA) | rare.fails(*errors, alpha=GUARD_ALPHA)


def false_rollbacks(seed: int, runs: int = 1000) -> tuple[float, float]:
    """(pooled, each route judged alone at the same alpha): share of null rollouts rolled back."""
    thumbs, errors, per_route = simulate(np.random.default_rng(seed), runs)
    pooled = group_fails(thumbs, errors).any(axis=1).mean()
    alone = np.zeros(runs, dtype=bool)
    for arms in per_route:
        alone |= rates.fails(*arms, alpha=GUARD_ALPHA).any(axis=1)
    return float(pooled), float(alone.mean())


def test_no_regression_rolls_the_group_back_in_at_most_alpha_of_rollouts():
    pooled, _ = false_rollbacks(8101)
    assert pooled <= ALPHA, f"{pooled:.3f} of null group rollouts rolled back"


def one_bad_route_caught(seed: int, runs: int = 500) -> float:
    """The middling route's candidate: thumbs-down 10% -> 20%; the other two unchanged."""
    thumbs, errors, _ = simulate(np.random.default_rng(seed), runs, worse={1: (0.20, 0.01)})
    return float(group_fails(thumbs, errors).any(axis=1).mean())


def test_a_regression_on_one_route_of_three_is_caught_by_the_pooled_guard():
    assert one_bad_route_caught(8102) >= 0.9


def counts_totals(x: int, n: int) -> Totals:
    totals = Totals()
    totals.counters = {tk.REQUESTS: n, tk.THUMBS_DOWN: x, tk.THUMBS_UP: n - x}
    totals.outcomes = {"ok": n}
    return totals


def group(guards: list[GuardIn]) -> GroupRollout:
    resolved = [resolve_guard(g) for g in guards]
    members = [
        Member(route=f"r{i}", release="b", stable="a", change_type="model", revision=1)
        for i in range(len(ROUTES))
    ]
    return GroupRollout(
        version=1, id="x", group="g", members=members, change_type="model", policy="test",
        steps=[1, 5, 25, 50, 100], min_bake_s=1e9, min_requests=0, max_step_s=1e9,
        on_inconclusive="pause", alpha=ALPHA, guard_alpha=GUARD_ALPHA, guards=resolved,
        skip_gate=True, reason="test", actor="test", started_at=0.0, status="running",
        status_reason="", step=GroupStep(index=0, percent=1, committed_at=0, deadline_at=1e9),
    )  # fmt: skip


def test_the_array_check_is_the_controllers_combined_decision():
    """Re-judge a subsample through `combined.look` on each route's own counts: it pools them
    and fails exactly where the pooled array check fails."""
    rng = np.random.default_rng(8103)
    thumbs, _, per_route = simulate(rng, 40, worse={2: (0.40, 0.05)})
    fast = rates.fails(*thumbs, alpha=GUARD_ALPHA)
    rollout = group([GuardIn(metric="thumbs_down_rate", tau=rates.TAU, margin=0.01, min_samples=1)])
    seen = set()
    for run in range(0, 40, 4):
        for tick in range(0, SHARES.size, 50):
            arms = {
                f"r{i}": combined.RouteArms(
                    counts_totals(int(x_c[run, tick]), int(n_c[run, tick])),
                    counts_totals(int(x_b[run, tick]), int(n_b[run, tick])),
                    None,
                )
                for i, (x_c, n_c, x_b, n_b) in enumerate(per_route)
            }
            found = combined.look(rollout, arms, baked_s=0.0, now=0.0)
            assert (found.action == "rollback") == bool(fast[run, tick]), (run, tick)
            seen.add(found.action)
    assert seen == {"rollback", "wait"}  # both outcomes were exercised

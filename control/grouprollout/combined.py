"""The group's combined guards: one decision at one look over every route's two arms. Pure.

What "combined" means:
- Each route's own hard ceilings are checked on its own canary: any route above one rolls the
  whole group back at once (a bad route must not hide behind a large good one).
- The split is checked per route (`decide.srm_check`): each route's canary must get its weight;
  a mismatch on any route holds the group without judging, naming the route.
- The rate, score and latency guards judge the canary side of every route pooled against the
  stable side pooled, with the route rollout's tests and alpha split (`decide.look`). Every route
  of a group sends the same share to its canary and a user is on the same side of every route
  (one bucketing salt), so both pooled sides mix the routes in the same proportions: under no
  regression their difference is zero, and a pooled side's variance is at most a single
  Bernoulli's at the pooled rate (mixing routes of different rates only lowers it). So there is
  one test per guard, not one per route, and the group's chance of a false rollback stays within
  the policy's alpha, split across the guards as for one route (tests/control/
  test_group_rollout_alpha.py measures it). Hard ceilings are absolute limits, not tests.
"""

from control.grouprollout.model import GroupRollout
from control.rollout import decide
from control.rollout.counts import Arm, pooled
from control.rollout.model import Srm
from control.stats.compute import Totals


class RouteArms:
    """One route's canary and stable counts since its step's judging began."""

    __slots__ = ("baseline", "baseline_totals", "canary", "canary_totals", "srm")

    def __init__(self, canary: Totals, baseline: Totals, srm: Srm | None) -> None:
        self.canary_totals, self.baseline_totals = canary, baseline
        self.canary, self.baseline = Arm(canary), Arm(baseline)
        self.srm = srm


def pool(arms: dict[str, RouteArms]) -> tuple[Arm, Arm]:
    """(canary, baseline): every route's canary side summed, and every stable side."""
    ordered = [arms[route] for route in sorted(arms)]
    return pooled([a.canary_totals for a in ordered]), pooled([a.baseline_totals for a in ordered])


def look(
    rollout: GroupRollout,
    arms: dict[str, RouteArms],
    baked_s: float,
    now: float,
    waiting: str | None = None,
) -> decide.Look:
    for route in sorted(arms):
        breach = decide.ceiling_breach(rollout.guards, arms[route].canary)
        if breach is not None:
            return decide.Look(action="rollback", reason=f"route {route!r}: {breach}", evidence=[])
    for route in sorted(arms):
        srm = arms[route].srm
        if srm is not None and srm.mismatch:
            reason = f"route {route!r}: {decide.srm_reason(srm)}"
            return decide.Look(action="hold", reason=reason, evidence=[])
    canary, baseline = pool(arms)
    return decide.look(rollout, canary, baseline, None, baked_s, now, waiting, ceilings=False)

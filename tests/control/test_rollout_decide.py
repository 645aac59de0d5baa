"""The controller's pure decisions: is the route still where the rollout put it, the split check,
and the order of a look (hard ceiling first, SRM holds, fail rolls back, pass needs the bake)."""

from control.rollout.counts import Arm
from control.rollout.decide import check_route, look, srm_check
from control.rollout.model import GuardIn, RolloutIn
from control.rollout.policy import resolve
from control.rollout.start import build
from control.routes.views import RouteData
from control.stats.compute import Totals
from gateway.contract import telemetry as tk
from tests import builders


def rollout(**fields):
    data = RouteData(
        state=builders.state("bot", {"r1": 100}, revision=3),
        releases={"r1": builders.release("r1"), "r2": builders.release("r2", upstream="b")},
        meta={},
    )
    body = RolloutIn(release="r2", reason="x", steps=[10, 50, 100], min_bake_s=10,
                     min_requests=20, **fields)  # fmt: skip
    chosen, source = resolve(body, "model", {})
    return build(data, body, chosen, source, "model", version=1, actor="t", now=0.0)


def arm(requests=0, errors=0, up=0, down=0):
    totals = Totals()
    totals.counters = {tk.REQUESTS: requests, tk.THUMBS_UP: up, tk.THUMBS_DOWN: down}
    totals.outcomes = {"ok": requests - errors, "upstream_5xx": errors}
    return Arm(totals)


def test_check_route_sees_pins_manual_flips_and_ends():
    r = rollout()
    assert r.revision == 4 and r.step.percent == 10
    step = {"r1": 9000, "r2": 1000}
    assert check_route(r, "r1", step, 4, False) == ("ok", "")
    assert check_route(r, "r1", {**step, "r3": 0}, 5, False)[0] == "adopt"
    assert check_route(r, "r1", step, 5, True)[0] == "pinned"
    kind, why = check_route(r, "r1", {"r1": 8000, "r2": 2000}, 5, False)
    assert kind == "manual" and "r2=20%" in why
    assert check_route(r, "r1", {"r1": 10000}, 5, False)[0] == "rolled_back"
    assert check_route(r, "r2", {"r2": 10000}, 5, False)[0] == "promoted"


def test_srm_judges_requests_and_keys_and_flags_a_skewed_split():
    empty = srm_check(10, {"r2": 0, "r1": 0}, None, "r2", "r1")
    assert empty.requests_p is None and empty.keys_p is None and not empty.mismatch
    fine = srm_check(10, {"r2": 100, "r1": 900}, {"r2": 50, "r1": 450}, "r2", "r1")
    assert not fine.mismatch and fine.requests_p == 1.0 and fine.keys_p == 1.0
    skewed = srm_check(10, {"r2": 160, "r1": 840}, {"r2": 50, "r1": 450}, "r2", "r1")
    assert skewed.mismatch and skewed.requests_p < 0.001 and skewed.keys_p == 1.0
    users = srm_check(10, {"r2": 0, "r1": 0}, {"r2": 300, "r1": 1700}, "r2", "r1")
    assert users.mismatch and users.requests_p is None and users.keys_p < 0.001
    assert "distinct sticky keys" in look(rollout(), arm(1, 0), arm(1, 0), users, 1, 1).reason


def test_keyed_calls_are_not_judged_as_independent_requests():
    """A sticky route whose calls all carry keys: 2,000 keyed calls at a 30% canary share (a few
    heavy users landed there) with users split as configured is no mismatch; the keyed calls
    are shown apart. A few calls pinned to the canary are not enough to hold; dozens are."""
    keyed = {"r2": 600, "r1": 1400}
    users = {"r2": 21, "r1": 179}
    fine = srm_check(10, {"r2": 0, "r1": 0}, users, "r2", "r1", keyed=keyed)
    assert not fine.mismatch and fine.keyed == keyed and fine.requests_p is None
    few = srm_check(10, {"r2": 3, "r1": 0}, users, "r2", "r1", keyed=keyed)
    assert not few.mismatch
    pinned = srm_check(10, {"r2": 20, "r1": 0}, users, "r2", "r1", keyed=keyed)
    assert pinned.mismatch and pinned.requests_p < 0.005


def test_a_look_in_order():
    r = rollout(guards=[GuardIn(metric="error_rate", hard_ceiling=0.2, margin=0.1)])
    ceiling = look(r, arm(25, 10), arm(500, 5), None, baked_s=0, now=1)
    assert ceiling.action == "rollback" and ceiling.reason.startswith("hard ceiling")
    skewed = srm_check(10, {"r2": 160, "r1": 840}, {}, "r2", "r1")
    held = look(r, arm(160, 2), arm(840, 8), skewed, baked_s=100, now=1)
    assert held.action == "hold" and "sample-ratio mismatch" in held.reason
    early = look(r, arm(300, 0), arm(2700, 0), None, baked_s=5, now=1)
    assert early.action == "wait" and early.evidence[0].verdict == "pass"  # not baked yet
    ready = look(r, arm(300, 0), arm(2700, 0), None, baked_s=10, now=1)
    assert ready.action == "advance"
    worse = look(r, arm(300, 40), arm(2700, 27), None, baked_s=1, now=1)
    assert worse.action == "rollback" and worse.evidence[0].verdict == "fail"
    late = look(r, arm(30, 1), arm(270, 3), None, baked_s=50, now=r.step.deadline_at)
    assert late.action == "timeout" and "inconclusive" in late.reason

"""Release operations and the rollout controller, end to end (real Redis, gateway, simulator,
admin API with its controller, users rating answers): a running rollout waits at its step
boundary while a freeze window is open and moves on after it; starting and promoting are refused
in a freeze unless `emergency: true`, which opens a needs-review item; the kill switch pauses a
running rollout, which cannot resume until the switch is lifted."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.control.conftest import Api
from tests.e2e.rollout_stack import FAST, ROUTE, Users, audit, rollout_of, seed, until_status

GUARDS = [
    {"metric": "thumbs_down_rate", "tau": 0.1, "margin": 0.15, "min_samples": 30},
    {"metric": "error_rate", "margin": 0.1, "min_samples": 30},
]
START = {
    "release": "r2",
    "reason": "new model",
    "steps": [20, 50, 100],
    "min_bake_s": 0.5,
    "min_requests": 30,
    "max_step_s": 30,
    "guards": GUARDS,
    "skip_gate": True,
}
ROLLOUTS = f"/admin/routes/{ROUTE}/rollouts"


@pytest.fixture
async def stack(redis_server, admin_factory, simulator, gateway_factory, http):
    admin = await admin_factory(redis_server.url, **FAST)
    api = Api(http, admin)
    await seed(api, simulator)
    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.2)
    await wait_for(lambda: ROUTE in gateway.context.holder.table.routes)
    return api, gateway


async def freeze(api: Api, name: str, end: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": "quarter close", "name": name}
    if end is not None:
        body["end"] = end.isoformat()
    answer: dict[str, Any] = await api.ok("PUT", "/admin/freeze", body, role="operator")
    return answer


def rollout_actions(entries: list[dict[str, Any]]) -> list[str]:
    return [e["action"] for e in entries if e["action"].startswith("rollout.")]


async def test_a_rollout_waits_at_its_step_boundary_in_a_freeze_and_moves_on_after_it(stack, http):
    api, gateway = stack
    users = Users(http, gateway, rate=120, thumbs_down={"r1": 0.05, "r2": 0.05}).start()
    try:
        started = await api.ok("POST", ROLLOUTS, {**START, "steps": [20, 100]}, role="operator")
        revision = started["rollout"]["revision"]
        await freeze(api, "close")  # open-ended for now: its end is set once the wait is seen
        waiting: dict[str, Any] = {}

        async def waits() -> bool:
            waiting.update((await rollout_of(api))["rollout"])
            return "waiting for window 'close'" in waiting["status_reason"]

        await wait_for(waits, timeout_s=15, step_s=0.05)
        assert waiting["status"] == "holding" and waiting["step"]["index"] == 0
        assert "moves on after the window" in waiting["status_reason"]
        await asyncio.sleep(1)  # ready to advance for a second: still where it was
        route = await api.ok("GET", f"/admin/routes/{ROUTE}")
        assert route["weights"] == {"r1": 80, "r2": 20} and route["revision"] == revision
        assert route["freeze"]["window"] == "close"
        assert (await rollout_of(api))["rollout"]["step"]["index"] == 0
        ends = datetime.now(UTC) + timedelta(seconds=1)
        await freeze(api, "close", ends)  # the window now ends on its own, a second from now
        view = await until_status(api, {"completed", "rolled_back", "paused"}, timeout_s=30)
    finally:
        await users.stop()
    assert view["rollout"]["status"] == "completed", view["rollout"]["status_reason"]
    entries = await audit(api)
    actions = rollout_actions(entries)
    assert actions == ["rollout.start", "rollout.hold", "rollout.promote"]
    held = next(e for e in entries if e["action"] == "rollout.hold")
    assert "waiting for window 'close'" in held["reason"] and held["actor"] == "controller"
    promoted = next(e for e in entries if e["action"] == "rollout.promote")
    assert promoted["actor"] == "controller"
    # the step forward came only once the window had ended
    assert datetime.fromisoformat(promoted["time"]) >= ends - timedelta(milliseconds=5)


async def test_start_and_promote_are_refused_in_a_freeze_unless_emergency(stack):
    api, _ = stack
    await freeze(api, "incident-42")
    before = await api.ok("GET", f"/admin/routes/{ROUTE}")
    status, error = await api.error("POST", ROLLOUTS, START, role="operator")
    assert status == 409 and error["code"] == "frozen"
    assert "window 'incident-42'" in error["message"] and "emergency" in error["message"]
    status, _ = await api.error("GET", ROLLOUTS)
    assert status == 404  # nothing was written
    assert (await api.ok("GET", f"/admin/routes/{ROUTE}"))["revision"] == before["revision"]
    assert before["open_reviews"] == []

    started = await api.ok("POST", ROLLOUTS, {**START, "emergency": True}, role="operator")
    assert started["rollout"]["status"] == "running"
    route = await api.ok("GET", f"/admin/routes/{ROUTE}")
    assert route["weights"] == {"r1": 80, "r2": 20}
    [review] = route["open_reviews"]
    assert review["action"] == "rollout.start" and review["actor"] == "olga"
    assert review["overrode"]["window"] == "incident-42"
    entry = next(e for e in await audit(api) if e["action"] == "rollout.start")
    assert entry["evidence"]["emergency"] is True
    assert entry["evidence"]["overrode"]["window"] == "incident-42"
    assert entry["id"] == review["id"]  # the item is keyed by the change's audit entry

    status, error = await api.error(
        "POST", f"{ROLLOUTS}/promote", {"reason": "ship it"}, role="operator"
    )
    assert status == 409 and error["code"] == "frozen" and "incident-42" in error["message"]
    assert (await rollout_of(api))["rollout"]["status"] == "running"
    aborted = await api.ok("POST", f"{ROLLOUTS}/abort", {"reason": "later"}, role="operator")
    assert aborted["rollout"]["status"] == "aborted"  # a rollback is always allowed
    route = await api.ok("GET", f"/admin/routes/{ROUTE}")
    assert route["weights"] == {"r1": 100, "r2": 0} and len(route["open_reviews"]) == 1


async def test_emergency_promote_in_a_freeze_is_reviewed(stack):
    api, _ = stack
    await api.ok("POST", ROLLOUTS, {**START, "min_bake_s": 60}, role="operator")
    await freeze(api, "close")
    body = {"reason": "customer escalation", "emergency": True}
    promoted = await api.ok("POST", f"{ROLLOUTS}/promote", body, role="operator")
    assert promoted["rollout"]["status"] == "completed"
    route = await api.ok("GET", f"/admin/routes/{ROUTE}")
    assert route["stable"] == "r2" and route["weights"] == {"r1": 0, "r2": 100}
    [review] = route["open_reviews"]
    assert review["action"] == "rollout.promote" and review["overrode"]["window"] == "close"


async def test_the_kill_switch_pauses_a_running_rollout_until_lifted_and_resumed(stack, http):
    api, gateway = stack
    users = Users(http, gateway, rate=120, thumbs_down={"r1": 0.05, "r2": 0.05}).start()
    try:
        await api.ok("POST", ROLLOUTS, {**START, "min_bake_s": 1}, role="operator")
        kill = {"release": "r1", "reason": "r2 leaks data"}
        await api.ok("POST", f"/admin/routes/{ROUTE}/kill", kill, role="operator")
        view = await until_status(api, {"paused"}, timeout_s=10)
        assert "kill switch engaged" in view["rollout"]["status_reason"]
        assert "gets r1" in view["rollout"]["status_reason"]
        served = len(users.seen.timeline)
        await asyncio.sleep(2)  # a good canary advances within this time: a killed one must not
        rollout = (await rollout_of(api))["rollout"]
        assert rollout["status"] == "paused" and rollout["step"]["index"] == 0
        route = await api.ok("GET", f"/admin/routes/{ROUTE}")
        assert route["kill_switch"] == "r1"
        assert route["weights"] == {"r1": 80, "r2": 20}  # kept for when the switch is lifted
        after_kill = users.seen.timeline[served:]
        assert after_kill and {release for _, release, _ in after_kill} == {"r1"}

        status, error = await api.error(
            "POST", f"{ROLLOUTS}/resume", {"reason": "go on"}, role="operator"
        )
        assert status == 409 and error["code"] == "killed"
        await api.ok("POST", f"/admin/routes/{ROUTE}/unkill", {"reason": "fixed"}, role="operator")
        resumed = await api.ok("POST", f"{ROLLOUTS}/resume", {"reason": "go on"}, role="operator")
        assert resumed["rollout"]["status"] == "running"

        async def advanced() -> bool:
            return (await rollout_of(api))["rollout"]["step"]["index"] >= 1

        await wait_for(advanced, timeout_s=15, step_s=0.05)
    finally:
        await users.stop()
    entries = await audit(api)
    pause = next(e for e in entries if e["action"] == "rollout.pause")
    assert pause["actor"] == "controller" and "kill switch" in pause["reason"]
    actions = rollout_actions(entries)
    assert actions[:4] == ["rollout.start", "rollout.pause", "rollout.resume", "rollout.step"]


async def test_a_rollout_does_not_start_on_a_killed_route(stack):
    api, _ = stack
    kill = {"release": "r1", "reason": "incident"}
    await api.ok("POST", f"/admin/routes/{ROUTE}/kill", kill, role="operator")
    status, error = await api.error("POST", ROLLOUTS, START, role="operator")
    assert status == 409 and error["code"] == "killed" and "unkill" in error["message"]

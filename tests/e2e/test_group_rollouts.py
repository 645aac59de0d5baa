"""Group rollouts end to end: real Redis, a real gateway, the simulator, the admin API with its
controller, and users calling both routes of a group and rating the answers. A group whose new
release is bad on one route is rolled back on every route in one step; a good one is promoted
on every route; a freeze on one member holds the group at its step boundary; a route rollout and
a group rollout exclude each other (409 naming the other); a hand flip of a member pauses it.
Short bake times and few steps keep it fast."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.control.conftest import Api
from tests.control.test_cli import Cli
from tests.e2e.rollout_stack import FAST, ROUTE, Users, behave, seed

GROUP = "shop"
OTHER = "agent"  # the group's second route: r1 on sim-a (stable), r2 on sim-c
ROUTES = (OTHER, ROUTE)
ROLLOUTS = f"/admin/groups/{GROUP}/rollouts"
THUMBS = {"metric": "thumbs_down_rate", "tau": 0.1, "margin": 0.15, "min_samples": 30}
ERRORS = {"metric": "error_rate", "margin": 0.1, "min_samples": 30}


@pytest.fixture
async def stack(redis_server, admin_factory, simulator, gateway_factory, http):
    admin = await admin_factory(redis_server.url, **FAST)
    api = Api(http, admin)
    await seed(api, simulator)
    await api.ok(
        "POST", "/admin/models/sim-c/versions", {"provider": "sim", "upstream_model": "sim-c"}
    )
    await api.ok("POST", "/admin/routes", {"name": OTHER, "release": {"model": "sim-a@1"}})
    await api.ok("POST", f"/admin/routes/{OTHER}/releases", {"model": "sim-c@1"}, role="operator")
    await api.ok("PUT", f"/admin/groups/{GROUP}", {"routes": list(ROUTES), "reason": "one flow"})
    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.2)

    def grouped() -> bool:
        routes = gateway.context.holder.table.routes
        return all(r in routes and routes[r].salt == GROUP for r in ROUTES)

    await wait_for(grouped)
    return api, gateway


def start_body(**fields: Any) -> dict[str, Any]:
    body = {
        "releases": {ROUTE: "r2", OTHER: "r2"},
        "reason": "new models for the whole flow",
        "steps": [20, 50, 100],
        "min_bake_s": 0.5,
        "min_requests": 40,
        "max_step_s": 30,
        "guards": [THUMBS, ERRORS],
        "skip_gate": True,
    }
    return {**body, **fields}


def users_of(http, gateway, thumbs: dict[str, dict[str, float]]) -> list[Users]:
    """One open-loop caller per route, the same 2,000 sticky users on both."""
    return [
        Users(http, gateway, rate=70, thumbs_down=thumbs[route], route=route, seed=index + 1)
        for index, route in enumerate(ROUTES)
    ]


async def stop(users: list[Users]) -> None:
    await asyncio.gather(*(u.stop() for u in users))


async def group_rollout(api: Api) -> dict[str, Any]:
    view: dict[str, Any] = await api.ok("GET", ROLLOUTS, role="viewer")
    return view


async def until_status(api: Api, statuses: set[str], timeout_s: float) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        found.update(await group_rollout(api))
        return found["rollout"]["status"] in statuses

    await wait_for(reached, timeout_s=timeout_s, step_s=0.05)
    return found


async def entries_of(api: Api, route: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = await api.ok(
        "GET", f"/admin/audit?route={route}&limit=1000", role="viewer"
    )
    return [e for e in entries if e["action"].startswith(("group_rollout.", "rollout."))]


async def weights(api: Api) -> dict[str, tuple[str, dict[str, int]]]:
    found = {}
    for route in ROUTES:
        state = await api.ok("GET", f"/admin/routes/{route}")
        found[route] = (state["stable"], state["weights"])
    return found


async def test_a_group_bad_on_one_route_is_rolled_back_on_every_route_in_one_step(stack, http):
    api, gateway = stack
    thumbs = {ROUTE: {"r1": 0.05, "r2": 0.05}, OTHER: {"r1": 0.05, "r2": 0.5}}
    users = [u.start() for u in users_of(http, gateway, thumbs)]
    try:
        started = await api.ok("POST", ROLLOUTS, start_body(), role="operator")
        assert started["rollout"]["status"] == "running"
        assert await weights(api) == {r: ("r1", {"r1": 80, "r2": 20}) for r in ROUTES}
        view = await until_status(api, {"rolled_back", "completed", "paused"}, timeout_s=30)
    finally:
        await stop(users)
    rollout = view["rollout"]
    assert rollout["status"] == "rolled_back", rollout["status_reason"]
    assert rollout["step"]["index"] == 0
    combined = {e["metric"]: e for e in rollout["evidence"]}
    assert combined["thumbs_down_rate"]["verdict"] == "fail"
    per_route = {m["route"]: m for m in rollout["members"]}
    # the pooled canary is both routes' canary calls
    assert rollout["canary_requests"] == sum(m["canary_requests"] for m in per_route.values())
    assert all(m["canary_requests"] > 0 for m in per_route.values())
    assert await weights(api) == {r: ("r1", {"r1": 100, "r2": 0}) for r in ROUTES}
    rollbacks = []
    for route in ROUTES:
        entries = await entries_of(api, route)
        assert [e["action"] for e in entries] == ["group_rollout.start", "group_rollout.rollback"]
        start, rollback = entries
        assert start["revision"] + 1 == rollback["revision"]
        assert rollback["actor"] == "controller" and rollback["after"]["weights"] == {"r1": 100}
        assert rollback["evidence"]["group_rollout"] == {"id": rollout["id"], "group": GROUP}
        assert rollback["evidence"]["rollout"] == {"release": "r2", "stable": "r1"}
        verdicts = {g["metric"]: g["verdict"] for g in rollback["evidence"]["guards"]}
        assert verdicts["thumbs_down_rate"] == "fail"
        rollbacks.append(rollback)
    # one script wrote both: the same decision, reason and evidence on both routes
    assert rollbacks[0]["reason"] == rollbacks[1]["reason"]
    assert rollbacks[0]["evidence"]["guards"] == rollbacks[1]["evidence"]["guards"]
    assert view["history"], "the evidence history has points for plotting"


async def test_a_hard_ceiling_on_one_route_rolls_the_whole_group_back(stack, simulator, http):
    api, gateway = stack
    behave(simulator, "sim-c", error_rate=0.6)  # agent's candidate fails most calls
    thumbs = {route: {"r1": 0.05, "r2": 0.05} for route in ROUTES}
    users = [u.start() for u in users_of(http, gateway, thumbs)]
    # the statistical guard waits for far more calls: only the route's own ceiling can act
    ceiling = {**ERRORS, "min_samples": 100_000, "hard_ceiling": 0.3, "hard_min_n": 20}
    try:
        await api.ok("POST", ROLLOUTS, start_body(guards=[ceiling]), role="operator")
        view = await until_status(api, {"rolled_back", "completed", "paused"}, timeout_s=30)
    finally:
        await stop(users)
    rollout = view["rollout"]
    assert rollout["status"] == "rolled_back", rollout["status_reason"]
    assert rollout["status_reason"].startswith(f"route {OTHER!r}: hard ceiling: error_rate")
    assert await weights(api) == {r: ("r1", {"r1": 100, "r2": 0}) for r in ROUTES}
    for route in ROUTES:
        actions = [e["action"] for e in await entries_of(api, route)]
        assert actions == ["group_rollout.start", "group_rollout.rollback"]


async def test_a_good_group_is_promoted_on_every_route(stack, http):
    api, gateway = stack
    thumbs = {route: {"r1": 0.05, "r2": 0.05} for route in ROUTES}
    users = [u.start() for u in users_of(http, gateway, thumbs)]
    try:
        await api.ok("POST", ROLLOUTS, start_body(), role="operator")
        view = await until_status(api, {"completed", "rolled_back", "paused"}, timeout_s=45)
    finally:
        await stop(users)
    rollout = view["rollout"]
    assert rollout["status"] == "completed", rollout["status_reason"]
    assert await weights(api) == {r: ("r2", {"r1": 0, "r2": 100}) for r in ROUTES}
    for route in ROUTES:
        entries = await entries_of(api, route)
        actions = [e["action"] for e in entries]
        assert actions == ["group_rollout.start", "group_rollout.step", "group_rollout.promote"]
        assert [e["after"]["weights"].get("r2") for e in entries] == [20, 50, 100]
        for entry in entries:
            assert entry["evidence"]["group_rollout"]["id"] == rollout["id"]
        for entry in entries[1:]:
            verdicts = {g["metric"]: g["verdict"] for g in entry["evidence"]["guards"]}
            assert verdicts == {"thumbs_down_rate": "pass", "error_rate": "pass"}
            srm = entry["evidence"]["srm"]  # this route's own split check
            assert srm is not None and srm["mismatch"] is False


async def freeze(api: Api, name: str, route: str, end: datetime | None = None) -> None:
    body: dict[str, Any] = {"reason": "quarter close", "name": name, "route": route}
    if end is not None:
        body["end"] = end.isoformat()
    await api.ok("PUT", "/admin/freeze", body, role="operator")


async def test_a_freeze_on_one_member_holds_the_group_at_its_step_boundary(stack, http):
    api, gateway = stack
    thumbs = {route: {"r1": 0.05, "r2": 0.05} for route in ROUTES}
    users = [u.start() for u in users_of(http, gateway, thumbs)]
    try:
        await api.ok("POST", ROLLOUTS, start_body(steps=[20, 100]), role="operator")
        await freeze(api, "close", OTHER)  # open-ended for now
        waiting: dict[str, Any] = {}

        async def waits() -> bool:
            waiting.update((await group_rollout(api))["rollout"])
            return "waiting for window 'close'" in waiting["status_reason"]

        await wait_for(waits, timeout_s=20, step_s=0.05)
        assert waiting["status"] == "holding" and waiting["step"]["index"] == 0
        assert waiting["status_reason"].startswith(f"route {OTHER!r}: waiting")
        await asyncio.sleep(1)  # ready to advance for a second: still where it was
        assert await weights(api) == {r: ("r1", {"r1": 80, "r2": 20}) for r in ROUTES}
        ends = datetime.now(UTC) + timedelta(seconds=1)
        await freeze(api, "close", OTHER, ends)
        view = await until_status(api, {"completed", "rolled_back", "paused"}, timeout_s=30)
    finally:
        await stop(users)
    assert view["rollout"]["status"] == "completed", view["rollout"]["status_reason"]
    for route in ROUTES:
        entries = await entries_of(api, route)
        actions = [e["action"] for e in entries]
        assert actions == ["group_rollout.start", "group_rollout.hold", "group_rollout.promote"]
        assert datetime.fromisoformat(entries[-1]["time"]) >= ends - timedelta(milliseconds=5)


async def test_route_and_group_rollouts_exclude_each_other_and_a_hand_flip_pauses(stack):
    api, _ = stack
    route_body = {**start_body(), "release": "r2"}
    del route_body["releases"]
    await api.ok("POST", f"/admin/routes/{ROUTE}/rollouts", route_body, role="operator")
    before = await api.ok("GET", f"/admin/routes/{OTHER}")
    status, error = await api.error("POST", ROLLOUTS, start_body(), role="operator")
    assert status == 409 and error["code"] == "rollout_exists"
    assert repr(ROUTE) in error["message"] and "r2" in error["message"]
    assert (await api.error("GET", ROLLOUTS, role="viewer"))[0] == 404  # nothing was written
    assert (await api.ok("GET", f"/admin/routes/{OTHER}"))["revision"] == before["revision"]
    await api.ok("POST", f"/admin/routes/{ROUTE}/rollouts/abort", {"reason": "x"}, role="operator")

    started = await api.ok("POST", ROLLOUTS, start_body(min_bake_s=60), role="operator")
    group_id = started["rollout"]["id"]
    status, error = await api.error(
        "POST", f"/admin/routes/{OTHER}/rollouts", route_body, role="operator"
    )
    assert status == 409 and error["code"] == "group_rollout_exists"
    assert group_id in error["message"] and repr(GROUP) in error["message"]
    status, error = await api.error("POST", ROLLOUTS, start_body(), role="operator")
    assert status == 409 and error["code"] == "rollout_exists" and group_id in error["message"]
    status, error = await api.error(
        "POST", ROLLOUTS, start_body(releases={ROUTE: "r2"}), role="operator"
    )
    assert status == 400 and error["field"] == "releases" and OTHER in error["message"]
    rejoin = {"routes": list(ROUTES), "reason": "again"}
    status, error = await api.error("PUT", f"/admin/groups/{GROUP}", rejoin)
    assert status == 409 and error["code"] == "rollout_exists" and group_id in error["message"]

    # a hand flip of one member pauses the group rollout; resume puts the step's weights back
    revision = (await api.ok("GET", f"/admin/routes/{OTHER}"))["revision"]
    flip = {"weights": {"r1": 60, "r2": 40}, "expected_revision": revision, "reason": "by hand"}
    await api.ok("PUT", f"/admin/routes/{OTHER}/weights", flip, role="operator")
    view = await until_status(api, {"paused"}, timeout_s=10)
    assert view["rollout"]["status_reason"].startswith(f"route {OTHER!r}: weights changed")
    resumed = await api.ok("POST", f"{ROLLOUTS}/resume", {"reason": "carry on"}, role="operator")
    assert resumed["rollout"]["status"] == "running"
    assert await weights(api) == {r: ("r1", {"r1": 80, "r2": 20}) for r in ROUTES}
    aborted = await api.ok("POST", f"{ROLLOUTS}/abort", {"reason": "enough"}, role="operator")
    assert aborted["rollout"]["status"] == "aborted"
    assert await weights(api) == {r: ("r1", {"r1": 100, "r2": 0}) for r in ROUTES}
    actions = [e["action"] for e in await entries_of(api, ROUTE)]
    assert actions[-4:] == [
        "group_rollout.start",
        "group_rollout.pause",
        "group_rollout.resume",
        "group_rollout.abort",
    ]
    status, error = await api.error("POST", f"{ROLLOUTS}/pause", {"reason": "x"}, role="operator")
    assert status == 409 and error["code"] == "rollout_ended"


async def test_the_cli_starts_shows_pauses_and_aborts_a_group_rollout(stack, capsys):
    api, _ = stack
    cli = Cli(api.admin, capsys)
    code, out, err = await cli(
        "group", "rollout", "start", GROUP, "--release", f"{ROUTE}=r2", "--release",
        f"{OTHER}=r2", "--steps", "10,100", "--min-bake", "5m", "--guard", "thumbs_down_rate",
        "--skip-gate", "--reason", "whole flow", role="operator",
    )  # fmt: skip
    assert code == 0, err
    assert "step 1/2: every route at 10%" in out
    assert f"{OTHER}  " in out and f"{ROUTE}  " in out and "thumbs_down_rate" in out
    assert await weights(api) == {r: ("r1", {"r1": 90, "r2": 10}) for r in ROUTES}
    code, out, _ = await cli("group", "rollout", "status", GROUP, role="viewer")
    assert code == 0 and f"of {GROUP}" in out
    code, out, _ = await cli("group", "rollout", "pause", GROUP, "-m", "look", role="operator")
    assert code == 0 and "status paused: look" in out
    code, _, err = await cli(
        "group", "rollout", "start", GROUP, "--release", f"{ROUTE}=r2", "--reason", "again",
        role="operator",
    )  # fmt: skip
    assert code != 0 and f"missing ['{OTHER}']" in err and "HTTP 400" in err
    code, out, _ = await cli("group", "rollout", "abort", GROUP, "-m", "stop", role="operator")
    assert code == 0 and "status aborted: stop" in out
    assert await weights(api) == {r: ("r1", {"r1": 100, "r2": 0}) for r in ROUTES}


async def test_a_kill_switch_on_one_member_pauses_the_group_rollout(stack):
    api, _ = stack
    await api.ok("POST", ROLLOUTS, start_body(min_bake_s=60), role="operator")
    kill = {"release": "r1", "reason": "r2 leaks data"}
    await api.ok("POST", f"/admin/routes/{ROUTE}/kill", kill, role="operator")
    view = await until_status(api, {"paused"}, timeout_s=10)
    assert "kill switch engaged" in view["rollout"]["status_reason"]
    assert await weights(api) == {r: ("r1", {"r1": 80, "r2": 20}) for r in ROUTES}
    status, error = await api.error("POST", f"{ROLLOUTS}/resume", {"reason": "go"}, role="operator")
    assert status == 409 and error["code"] == "killed" and repr(ROUTE) in error["message"]
    await api.ok("POST", f"/admin/routes/{ROUTE}/unkill", {"reason": "fixed"}, role="operator")
    resumed = await api.ok("POST", f"{ROLLOUTS}/resume", {"reason": "go"}, role="operator")
    assert resumed["rollout"]["status"] == "running"
    actions = [e["action"] for e in await entries_of(api, OTHER)]
    assert actions == ["group_rollout.start", "group_rollout.pause", "group_rollout.resume"]


async def test_a_change_set_rolling_the_group_back_ends_the_group_rollout(stack):
    api, _ = stack
    await api.ok("POST", ROLLOUTS, start_body(min_bake_s=60), role="operator")
    body = {"action": "rollback", "reason": "by hand, the whole flow"}
    await api.ok("POST", f"/admin/groups/{GROUP}/changes", body, role="operator")
    view = await until_status(api, {"aborted", "paused"}, timeout_s=10)
    assert view["rollout"]["status"] == "aborted"
    assert "rolled back outside the rollout" in view["rollout"]["status_reason"]
    actions = [e["action"] for e in await entries_of(api, ROUTE)]
    assert actions == ["group_rollout.start", "group_rollout.end"]


async def open_reviews(api: Api, route: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await api.ok("GET", f"/admin/routes/{route}/reviews")
    return found


async def test_an_emergency_start_and_promote_in_a_freeze_are_reviewed_on_every_route(stack, http):
    """As a route rollout's: refused in a freeze (409 naming the window) unless `emergency`,
    which leaves a needs-review item on every member route; the controller itself never
    overrides the freeze, so a ready step waits at its boundary, as a route rollout's does."""
    api, gateway = stack
    await freeze(api, "close", OTHER)
    status, error = await api.error("POST", ROLLOUTS, start_body(), role="operator")
    assert status == 409 and error["code"] == "frozen" and "'close'" in error["message"]
    assert (await api.error("GET", ROLLOUTS, role="viewer"))[0] == 404  # nothing written
    assert [await open_reviews(api, r) for r in ROUTES] == [[], []]

    thumbs = {route: {"r1": 0.05, "r2": 0.05} for route in ROUTES}
    users = [u.start() for u in users_of(http, gateway, thumbs)]
    try:
        urgent = start_body(steps=[20, 100], emergency=True)
        started = await api.ok("POST", ROLLOUTS, urgent, role="operator")
        assert started["rollout"]["status"] == "running"
        assert await weights(api) == {r: ("r1", {"r1": 80, "r2": 20}) for r in ROUTES}
        view = await until_status(api, {"holding", "completed", "rolled_back"}, timeout_s=20)
        assert view["rollout"]["status"] == "holding"
        assert "waiting for window 'close'" in view["rollout"]["status_reason"]
    finally:
        await stop(users)
    body = {"reason": "customer escalation"}
    status, error = await api.error("POST", f"{ROLLOUTS}/promote", body, role="operator")
    assert status == 409 and error["code"] == "frozen" and "'close'" in error["message"]
    promoted = await api.ok(
        "POST", f"{ROLLOUTS}/promote", {**body, "emergency": True}, role="operator"
    )
    assert promoted["rollout"]["status"] == "completed"
    assert await weights(api) == {r: ("r2", {"r1": 0, "r2": 100}) for r in ROUTES}
    for route in ROUTES:
        entries = {e["action"]: e for e in await entries_of(api, route)}
        reviews = await open_reviews(api, route)
        assert [r["action"] for r in reviews] == ["group_rollout.start", "group_rollout.promote"]
        for review in reviews:
            entry = entries[review["action"]]
            assert review["id"] == entry["id"] and review["actor"] == "olga"
            assert entry["evidence"]["emergency"] is True and "[emergency]" in entry["reason"]
            assert entry["evidence"]["group_rollout"]["id"] == promoted["rollout"]["id"]
            # the freeze overridden is recorded on the frozen member
            window = (review["overrode"] or {}).get("window")
            assert window == ("close" if route == OTHER else None)


async def test_an_emergency_resume_in_a_freeze_is_reviewed_on_the_routes_it_moves(stack):
    api, _ = stack
    await api.ok("POST", ROLLOUTS, start_body(min_bake_s=60), role="operator")
    await freeze(api, "close", OTHER)
    revision = (await api.ok("GET", f"/admin/routes/{OTHER}"))["revision"]
    back = {"weights": {"r1": 90, "r2": 10}, "expected_revision": revision, "reason": "less"}
    await api.ok("PUT", f"/admin/routes/{OTHER}/weights", back, role="operator")  # allowed
    await until_status(api, {"paused"}, timeout_s=10)
    body = {"reason": "put it back"}
    status, error = await api.error("POST", f"{ROLLOUTS}/resume", body, role="operator")
    assert status == 409 and error["code"] == "frozen" and "'close'" in error["message"]
    resumed = await api.ok(
        "POST", f"{ROLLOUTS}/resume", {**body, "emergency": True}, role="operator"
    )
    assert resumed["rollout"]["status"] == "running"
    assert await weights(api) == {r: ("r1", {"r1": 80, "r2": 20}) for r in ROUTES}
    [review] = await open_reviews(api, OTHER)  # the route put back; the other did not move
    assert review["action"] == "group_rollout.resume" and review["overrode"]["window"] == "close"
    assert await open_reviews(api, ROUTE) == []
    aborted = await api.ok("POST", f"{ROLLOUTS}/abort", {"reason": "x"}, role="operator")
    assert aborted["rollout"]["status"] == "aborted"  # a rollback is always allowed
    assert len(await open_reviews(api, OTHER)) == 1

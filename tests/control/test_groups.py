"""Route groups: 10,000 keys get all-new or all-old across two routes of a group at every
weight (the gateway's own routing objects), a change set flips both routes in one atomic,
audited step that neither a Redis reader nor a gateway's routing table ever shows half of."""

import asyncio

import msgspec
import numpy as np

from control.routes.views import decode_state
from gateway.contract import keys
from gateway.contract.bucketing import BUCKETS, cumulative_bounds, sticky_bucket
from gateway.contract.snapshot import RouteSnapshot
from gateway.routing import ServedRoute
from gateway.telemetry.recorder import Recorder
from tests import builders
from tests.conftest import wait_for
from tests.control.conftest import seed_route
from tests.control.test_cli import Cli

USERS = [f"user-{i}" for i in range(10_000)]


def served(route: str, canary: str, canary_bp: int, group: str | None) -> ServedRoute:
    state = msgspec.structs.replace(
        builders.state(route, {"r1": 100}),
        weights_bp={"r1": BUCKETS - canary_bp, canary: canary_bp},
        group=group,
    )
    releases = {r: builders.release(r) for r in ("r1", canary)}
    return ServedRoute(RouteSnapshot(state=state, releases=releases), {}, Recorder())


def test_every_key_gets_all_new_or_all_old_at_every_weight():
    buckets = np.array([sticky_bucket("checkout", u) for u in USERS])
    for percent in range(101):
        bp = percent * 100
        router = served("router", "r2", bp, "checkout")  # an even canary (bottom side) ...
        agent = served("agent", "r3", bp, "checkout")  # ... and an odd one: same side in a group
        new_router = np.array([router.pick(u, None).id == "r2" for u in USERS])
        new_agent = np.array([agent.pick(u, None).id == "r3" for u in USERS])
        assert (new_router == new_agent).all(), percent
        assert new_router.sum() == (buckets < bp).sum()  # exactly the bottom `bp` buckets
    # Without the group the two canaries sit on opposite sides and split users differently.
    router, agent = served("router", "r2", 5000, None), served("agent", "r3", 5000, None)
    mixed = sum(
        (router.pick(u, None).id == "r2") != (agent.pick(u, None).id == "r3") for u in USERS
    )
    assert mixed > 1000


def test_one_side_layout_keeps_stable_in_the_middle_only_without_a_group():
    assert cumulative_bounds({"r1": 9000, "r3": 1000}, "r1", one_side=True) == (
        [1000, 10000],
        ["r3", "r1"],
    )
    assert cumulative_bounds({"r1": 9000, "r3": 1000}, "r1")[1] == ["r1", "r3"]


async def test_change_set_is_atomic_audited_and_followed_by_gateways(
    api, admin, redis, redis_server, simulator, gateway_factory, http, capsys
):
    await seed_route(api, simulator.url, route="router")
    await seed_route(api, simulator.url, route="agent", systems=("A.", "B.", "C."))
    status, error = await api.error(
        "POST",
        "/admin/groups/checkout/changes",
        {"releases": {"router": "r2"}, "percent": 10, "reason": "x"},
        role="operator",
    )
    assert status == 404 and error["field"] == "group"  # a group without routes: none such
    joined = await api.ok(
        "PUT", "/admin/groups/checkout", {"routes": ["router", "agent"], "reason": "coordinated"}
    )
    assert [r["group"] for r in joined["routes"]] == ["checkout", "checkout"]
    # Both now live in the group's slot: their old keys are gone, their old slots marked.
    assert await redis.hgetall(keys.ROUTE_HOMES) == {b"router": b"checkout", b"agent": b"checkout"}
    assert await redis.exists(keys.route_state("router"), keys.route_releases("agent")) == 0
    assert await redis.get(keys.route_moved("agent")) == b"moved:checkout"
    gateway = await gateway_factory(redis_server.url)

    seen_mixed = []
    stop = asyncio.Event()

    async def reader():  # reads both states in one command, as often as it can
        while not stop.is_set():
            raw = await redis.mget(*(keys.route_state(r, "checkout") for r in ("router", "agent")))
            router, agent = (decode_state(r) for r in raw)
            if router.weights_bp.get("r2", 0) != agent.weights_bp.get("r3", 0):
                seen_mixed.append((router.weights_bp, agent.weights_bp))
            await asyncio.sleep(0)

    def grouped_on_gateway() -> bool:
        table = gateway.context.holder.table.routes
        return all(n in table and table[n].salt == "checkout" for n in ("router", "agent"))

    await wait_for(grouped_on_gateway, timeout_s=3)

    async def gateway_reader():  # the gateway's routing table, between any two of its steps
        while not stop.is_set():
            table = gateway.context.holder.table.routes
            router, agent = table["router"].snapshot.state, table["agent"].snapshot.state
            if router.weights_bp.get("r2", 0) != agent.weights_bp.get("r3", 0):
                seen_mixed.append(("gateway", router.weights_bp, agent.weights_bp))
            await asyncio.sleep(0)

    watching = asyncio.gather(reader(), gateway_reader())
    for percent in (1, 5, 25, 50, 75, 100, 0, 30):
        body = {"releases": {"router": "r2", "agent": "r3"}, "percent": percent, "reason": "step"}
        done = await api.ok("POST", "/admin/groups/checkout/changes", body, role="operator")
        assert set(done["revisions"]) == {"router", "agent"}
    stop.set()
    await watching
    assert seen_mixed == []

    entries = await api.ok("GET", "/admin/audit?limit=1000")
    group_entries = [e for e in entries if e["action"] == "group.flip"]
    assert len(group_entries) == 16
    by_set: dict[str, set[str]] = {}
    for entry in group_entries:
        by_set.setdefault(entry["evidence"]["changeset"], set()).add(entry["route"])
    assert all(routes == {"router", "agent"} for routes in by_set.values()) and len(by_set) == 8

    def follows() -> bool:
        table = gateway.context.holder.table.routes
        return all(
            name in table and table[name].snapshot.state.weights_bp.get(canary) == 3000
            for name, canary in (("router", "r2"), ("agent", "r3"))
        )

    await wait_for(follows, timeout_s=3)
    for index in range(60):
        user = f"customer-{index}"
        got = []
        for route in ("router", "agent"):
            body = {"model": route, "messages": [{"role": "user", "content": "hi"}], "user": user}
            async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
                await response.read()
                got.append(response.headers["X-Turnout-Release"] != "r1")
        assert got[0] == got[1], user

    stale = {"releases": {"router": "r9", "agent": "r3"}, "percent": 10, "reason": "bad"}
    before = [await redis.get(keys.route_state(r, "checkout")) for r in ("router", "agent")]
    status, error = await api.error(
        "POST", "/admin/groups/checkout/changes", stale, role="operator"
    )
    assert status == 400
    assert [await redis.get(keys.route_state(r, "checkout")) for r in ("router", "agent")] == before
    back = await api.ok(
        "POST",
        "/admin/groups/checkout/changes",
        {"action": "rollback", "reason": "undo"},
        role="operator",
    )
    assert len(back["revisions"]) == 2
    resolved = await api.ok("GET", "/admin/resolve?route=agent&key=customer-1", role="viewer")
    assert resolved["release"] == "r1"
    cli = Cli(admin, capsys)
    code, out, _ = await cli(
        "group",
        "change",
        "checkout",
        "--release",
        "router=r2",
        "--release",
        "agent=r3",
        "--percent",
        "12.5",
        "--reason",
        "again",
        role="operator",
    )
    assert code == 0 and out.startswith("change set ")
    code, out, _ = await cli("group", "show", "checkout", role="viewer")
    assert "r1=87.5 r3=12.5" in out and "r1=87.5 r2=12.5" in out


async def test_an_emergency_change_set_in_a_freeze_leaves_a_review_item_on_every_route(api):
    """Refused in a freeze (409 naming the window) unless `emergency: true`; then every route
    of the group gets its needs-review item, keyed by its own audit entry of the change set."""
    for route in ("router", "agent"):
        await seed_route(api, "http://127.0.0.1:9/v1", route=route)
    await api.ok("PUT", "/admin/groups/checkout", {"routes": ["router", "agent"], "reason": "x"})
    freeze = {"reason": "quarter close", "name": "close", "route": "agent"}
    await api.ok("PUT", "/admin/freeze", freeze, role="operator")
    changes = "/admin/groups/checkout/changes"
    body = {"releases": {"router": "r2", "agent": "r2"}, "percent": 10, "reason": "hotfix"}
    status, error = await api.error("POST", changes, body, role="operator")
    assert status == 409 and error["code"] == "frozen" and "'close'" in error["message"]
    done = await api.ok("POST", changes, {**body, "emergency": True}, role="operator")
    for route in ("router", "agent"):
        [entry] = [
            e
            for e in await api.ok("GET", f"/admin/audit?route={route}")
            if e["action"] == "group.flip"
        ]
        assert entry["evidence"]["changeset"] == done["changeset"]
        assert entry["evidence"]["emergency"] is True
        [review] = await api.ok("GET", f"/admin/routes/{route}/reviews")
        assert review["id"] == entry["id"] and review["action"] == "group.flip"
        assert review["reason"] == "hotfix" and review["actor"] == entry["actor"]
        # the freeze overridden on the frozen route; the other was not frozen
        overrode = review["overrode"]
        assert (overrode or {}).get("window") == ("close" if route == "agent" else None)
    # a rollback never asks about the freeze, and without `emergency` opens nothing
    await api.ok("POST", changes, {"action": "rollback", "reason": "undo"}, role="operator")
    assert len(await api.ok("GET", "/admin/routes/agent/reviews")) == 1

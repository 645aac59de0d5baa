"""Route groups on a 3-master Redis Cluster: two routes served by different masters join a group,
which moves every key of both into the group's one slot; a change set's flip, promote and
rollback are then each one script (atomic, audited with a shared change set id), and a gateway
connected to the cluster follows each one whole, never a mix of revisions."""

import asyncio
from typing import Any

import msgspec

from control import keyspace
from control.routes import views
from control.store import Store
from gateway.contract import keys
from gateway.sync import EMPTY, read_snapshot
from tests.conftest import wait_for
from tests.control.conftest import seed_route
from tests.seeding import write_raw

CHANGES = "/admin/groups/checkout/changes"


def _two_routes_on_two_masters(cluster: Any) -> tuple[str, str]:
    names = [f"route-{i}" for i in range(50)]
    first = names[0]
    other = next(n for n in names if cluster.master_of(keys.route_state(n)) is not
                 cluster.master_of(keys.route_state(first)))  # fmt: skip
    return first, other


def _group_keys(name: str) -> list[str]:
    return [
        keys.route_state(name, "checkout"),
        keys.route_releases(name, "checkout"),
        keys.route_audit(name, "checkout"),
        keys.route_moved(name, "checkout"),
        keyspace.release_meta(name, "checkout"),
        keyspace.rollout(name, "checkout"),
        keyspace.rollout_fence(name, "checkout"),
        keyspace.rollout_history(name, "checkout"),
        keyspace.gates(name, "checkout"),
        keyspace.gate_dataset(name, "checkout"),
        keyspace.reviews(name, "checkout"),
    ]


async def test_a_group_lives_in_one_slot_and_its_change_sets_are_one_script(
    redis_server, redis, api, simulator, gateway_factory
):
    cluster = redis_server
    first, second = _two_routes_on_two_masters(cluster)
    await seed_route(api, simulator.url, route=first)
    await seed_route(api, simulator.url, route=second, systems=("A.", "B.", "C."))
    canary = {first: "r2", second: "r3"}
    gateway = await gateway_factory(redis_server.url, poll_interval_s=0.2)
    holder = gateway.context.holder
    await wait_for(lambda: {first, second} <= set(holder.table.routes), timeout_s=5)

    joined = await api.ok("PUT", "/admin/groups/checkout", {"routes": [first, second],
                          "reason": "coordinated"})  # fmt: skip
    assert [r["group"] for r in joined["routes"]] == ["checkout", "checkout"]
    node = cluster.master_of(keys.group_tag("checkout")).client()
    try:
        tag_slot = node.execute_command("CLUSTER KEYSLOT", keys.group_tag("checkout"))
        for name in (first, second):
            slots = {node.execute_command("CLUSTER KEYSLOT", k) for k in _group_keys(name)}
            assert slots == {tag_slot}, name
        index_slot = node.execute_command("CLUSTER KEYSLOT", keys.ROUTE_INDEX)
        assert node.execute_command("CLUSTER KEYSLOT", keys.ROUTE_HOMES) == index_slot
    finally:
        node.close()
    for name in (first, second):
        assert await redis.exists(keys.route_state(name)) == 0  # moved, not copied
        assert await redis.exists(keys.route_state(name, "checkout")) == 1

    mixed: list[Any] = []
    stop = asyncio.Event()

    async def watch() -> None:  # the gateway's table between any two of its steps
        while not stop.is_set():
            table = holder.table.routes
            a, b = (table[n].snapshot.state for n in (first, second))
            if (a.weights_bp.get(canary[first], 0), a.stable) != (
                b.weights_bp.get(canary[second], 0),
                b.stable.replace("r3", "r2"),
            ):
                mixed.append((a.revision, a.weights_bp, b.revision, b.weights_bp))
            await asyncio.sleep(0)

    def follows(revisions: dict[str, int]) -> bool:
        table = holder.table.routes
        return all(table[n].snapshot.state.revision == r for n, r in revisions.items())

    watching = asyncio.create_task(watch())
    steps = [
        {"action": "flip", "releases": canary, "percent": 25},
        {"action": "rollback"},
        {"action": "flip", "releases": canary, "percent": 50},
        {"action": "promote", "releases": canary},
    ]
    changesets = []
    for step in steps:
        done = await api.ok("POST", CHANGES, {**step, "reason": "step"}, role="operator")
        changesets.append(done["changeset"])
        await wait_for(lambda d=done: follows(d["revisions"]), timeout_s=5)
    stop.set()
    await watching
    assert mixed == []
    table = holder.table.routes
    assert {n: table[n].snapshot.state.stable for n in (first, second)} == canary
    assert all(table[n].snapshot.state.weights_bp == {canary[n]: 10000} for n in canary)

    entries = await api.ok("GET", "/admin/audit?limit=1000", role="viewer")
    grouped = [e for e in entries if e["action"].startswith("group.") and e["evidence"]]
    by_set: dict[str, set[str]] = {}
    for entry in grouped:
        by_set.setdefault(entry["evidence"].get("changeset", ""), set()).add(entry["route"])
    assert {s: by_set[s] for s in changesets} == {key: {first, second} for key in changesets}


async def test_routes_grouped_before_group_slots_still_sync_one_by_one(
    redis_server, redis, api, simulator, gateway_factory
):
    """A group whose routes still live in their own slots (grouped before groups had a slot)
    cannot be read in one step on Cluster: the gateway reads them one by one instead of
    failing its sync; a change set over them is a 409 saying to join them again (moving them)."""
    first, second = _two_routes_on_two_masters(redis_server)
    await seed_route(api, simulator.url, route=first)
    await seed_route(api, simulator.url, route=second)
    gateway = await gateway_factory(redis_server.url, poll_interval_s=0.2)
    for name in (first, second):
        data = await views.read(Store(redis), name)
        await write_raw(
            redis,
            msgspec.structs.replace(data.state, revision=data.state.revision + 1, group="old"),
        )

    def served() -> bool:
        table = gateway.context.holder.table.routes
        return all(n in table and table[n].snapshot.state.group == "old" for n in (first, second))

    await wait_for(served, timeout_s=5)
    whole = await read_snapshot(redis, EMPTY)  # the full reload's read, not only the events'
    assert {whole.routes[n].state.group for n in (first, second)} == {"old"}
    body = {"releases": {first: "r2", second: "r2"}, "percent": 10, "reason": "try"}
    status, error = await api.error("POST", "/admin/groups/old/changes", body, role="operator")
    assert status == 409 and first in error["message"] and "again" in error["message"]
    await api.ok("PUT", "/admin/groups/old", {"routes": [first, second], "reason": "move"})
    done = await api.ok("POST", "/admin/groups/old/changes", body, role="operator")
    assert set(done["revisions"]) == {first, second}  # one script, in the group's slot now


async def test_a_group_rollout_steps_in_the_groups_one_slot(redis_server, redis, api, simulator):
    """A group rollout's start and its abort each write the group's record and both routes (on
    different masters before they joined) in one script: on Cluster that needs one slot."""
    first, second = _two_routes_on_two_masters(redis_server)
    for name in (first, second):
        await seed_route(api, simulator.url, route=name)
    await api.ok("PUT", "/admin/groups/checkout", {"routes": [first, second], "reason": "x"})
    body = {"releases": {first: "r2", second: "r2"}, "reason": "new prompts",
            "steps": [10, 100], "skip_gate": True}  # fmt: skip
    started = await api.ok("POST", "/admin/groups/checkout/rollouts", body, role="operator")
    assert started["rollout"]["status"] == "running"
    store = Store(redis)
    for name in (first, second):
        assert (await views.read(store, name)).state.weights_bp == {"r1": 9000, "r2": 1000}
    # the deletion's script reads the group's rollout in the same slot: refused
    status, error = await api.error("DELETE", f"/admin/routes/{first}", {"reason": "x"})
    assert status == 409 and error["code"] == "group_rollout_active"
    abort = {"reason": "changed our mind"}
    ended = await api.ok("POST", "/admin/groups/checkout/rollouts/abort", abort, role="operator")
    assert ended["rollout"]["status"] == "aborted"
    for name in (first, second):
        data = await views.read(store, name)
        assert data.state.weights_bp == {"r1": 10000}
        entries = await redis.xrange(keys.route_audit(name, "checkout"))
        actions = [e[1][b"action"].decode() for e in entries]
        assert actions[-2:] == ["group_rollout.start", "group_rollout.abort"], actions

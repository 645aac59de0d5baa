"""Joining a group moves a route's keys into the group's slot (`control.groups.move`): under
continuous gateway traffic no call fails and no gateway ever misses the route or reports data
loss; a write to a route while it moves answers 409 busy and the same join resumes the move; a
route with a running rollout is refused; export -> wipe -> restore keeps the group's slot."""

import asyncio
from typing import Any

from redis.crc import key_slot

from control import keyspace
from gateway.contract import keys
from gateway.sync import read_index, read_revisions, read_revisions_at, read_route, read_route_at
from tests.conftest import wait_for
from tests.control.conftest import seed_route

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
JOIN = {"routes": ["router", "agent"], "reason": "coordinated"}


async def _seed_two(api: Any, url: str) -> None:
    await seed_route(api, url, route="router")
    await seed_route(api, url, route="agent", systems=("A.", "B.", "C."))


def _grouped(gateway: Any, revisions: dict[str, int]) -> bool:
    table = gateway.context.holder.table.routes
    return all(
        name in table
        and table[name].snapshot.state.group == "checkout"
        and table[name].snapshot.state.revision == revision
        for name, revision in revisions.items()
    )


async def test_joining_under_traffic_loses_no_call_and_never_reports_data_loss(
    api, redis, redis_server, simulator, gateway_factory, http
):
    await _seed_two(api, simulator.url)
    gateway = await gateway_factory(redis_server.url, poll_interval_s=0.05)
    holder = gateway.context.holder
    await wait_for(lambda: {"router", "agent"} <= set(holder.table.routes), timeout_s=5)
    statuses: list[int] = []
    troubles: list[Any] = []
    stop = asyncio.Event()

    async def caller(route: str) -> None:
        while not stop.is_set():
            body = {**CHAT, "model": route}
            async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
                await response.read()
                statuses.append(response.status)

    async def watcher() -> None:  # the gateway between any two of its steps
        while not stop.is_set():
            missing = {"router", "agent"} - set(holder.table.routes)
            if missing or holder.data_lost is not None or holder.unconfirmed:
                troubles.append((missing, holder.data_lost, list(holder.unconfirmed)))
            await asyncio.sleep(0)

    running = asyncio.gather(caller("router"), caller("agent"), caller("router"), watcher())
    await asyncio.sleep(0.3)
    before = {n: (await api.ok("GET", f"/admin/routes/{n}"))["revision"] for n in JOIN["routes"]}
    history = await api.ok("GET", "/admin/audit?route=agent&limit=100")
    joined = await api.ok("PUT", "/admin/groups/checkout", JOIN)
    after = {r["name"]: r["revision"] for r in joined["routes"]}
    assert after == {name: revision + 1 for name, revision in before.items()}
    await wait_for(lambda: _grouped(gateway, after), timeout_s=5)
    await asyncio.sleep(0.5)  # traffic and revision checks go on over the new home
    stop.set()
    await running
    assert len(statuses) > 20 and set(statuses) == {200}
    assert troubles == []
    entries = await api.ok("GET", "/admin/audit?route=agent&limit=100")
    join = entries[-1]
    assert (join["action"], join["revision"], join["reason"]) == ("group.join", 4, "coordinated")
    assert join["evidence"]["moved_to"] == "turnout:{group:checkout}:route:agent"
    assert entries[:-1] == history  # the whole history came along, with the same entry ids
    assert len(history) == 3


async def test_a_moving_route_answers_busy_and_the_same_join_resumes_the_move(
    api, redis, simulator
):
    await _seed_two(api, simulator.url)
    route = await api.ok("GET", "/admin/routes/router")
    # A move cut short right after marking the route's old slot, as a crash would leave it.
    await redis.set(keys.route_moved("router"), "moving:checkout")
    weights = {"weights": {"r1": 90, "r2": 10}, "expected_revision": route["revision"]}
    status, error = await api.error(
        "PUT", "/admin/routes/router/weights", {**weights, "reason": "canary"}
    )
    assert (status, error["code"]) == (409, "busy") and "'router'" in error["message"]
    status, error = await api.error("DELETE", "/admin/routes/router", {"reason": "gone"})
    assert (status, error["code"]) == (409, "busy")
    assert await redis.hget(keys.DELETED_ROUTES, "router") is None  # no deletion left behind
    status, error = await api.error("PUT", "/admin/groups/other", JOIN)
    assert (status, error["code"]) == (409, "busy") and "moving:checkout" in error["message"]
    assert (await api.ok("GET", "/admin/routes/router"))["revision"] == route["revision"]

    joined = await api.ok("PUT", "/admin/groups/checkout", JOIN)
    assert {r["name"]: r["group"] for r in joined["routes"]} == {
        "router": "checkout",
        "agent": "checkout",
    }
    assert await redis.get(keys.route_moved("router")) == b"moved:checkout"
    assert await redis.exists(keys.route_state("router"), keys.route_audit("router")) == 0
    done = await api.ok("PUT", "/admin/routes/router/weights", {**weights, "reason": "canary",
                        "expected_revision": route["revision"] + 1})  # fmt: skip
    assert done["revision"] == route["revision"] + 2  # written at its new home


async def test_a_route_with_a_running_rollout_is_refused_joining(api, redis, simulator):
    await _seed_two(api, simulator.url)
    start = {"release": "r2", "reason": "try it", "skip_gate": True}
    await api.ok("POST", "/admin/routes/agent/rollouts", start, role="operator")
    status, error = await api.error("PUT", "/admin/groups/checkout", JOIN)
    assert status == 409 and "'agent'" in error["message"] and "rollout" in error["message"]
    assert await redis.get(keys.route_moved("agent")) is None  # free again for its rollout
    assert await redis.hget(keys.ROUTE_HOMES, "agent") is None
    assert await redis.hget(keys.ROUTE_HOMES, "router") == b"checkout"  # joined before it
    abort = {"reason": "later"}
    await api.ok("POST", "/admin/routes/agent/rollouts/abort", abort, role="operator")
    await api.ok("PUT", "/admin/groups/checkout", JOIN)
    agent = await api.ok("GET", "/admin/routes/agent")  # read at its new home
    assert agent["group"] == "checkout" and agent["rollout"]["status"] == "aborted"
    assert [r["note"] for r in agent["releases"]][1:] == ["prompt 2", "prompt 3"]
    assert await redis.exists(keyspace.rollout("agent", "checkout")) == 1
    assert await redis.exists(keyspace.rollout("agent"), keyspace.release_meta("agent")) == 0


async def test_export_wipe_restore_keeps_a_group_in_its_slot(api, redis, redis_server, simulator):
    await _seed_two(api, simulator.url)
    await api.ok("PUT", "/admin/groups/checkout", JOIN)
    exported = await api.ok("GET", "/admin/export")
    redis_server.kill()
    redis_server.start()  # wiped
    await api.ok("POST", "/admin/restore", {"reason": "wiped", "export": exported})
    assert await redis.hgetall(keys.ROUTE_HOMES) == {b"router": b"checkout", b"agent": b"checkout"}
    slot = key_slot(keys.group_tag("checkout").encode())
    for name in ("router", "agent"):
        home = [
            keys.route_state(name, "checkout"),
            keys.route_releases(name, "checkout"),
            keys.route_audit(name, "checkout"),
            keyspace.release_meta(name, "checkout"),
        ]
        assert await redis.exists(*home) == 4
        assert {key_slot(k.encode()) for k in home} == {slot}
        assert await redis.exists(keys.route_state(name)) == 0
    body = {"releases": {"router": "r2", "agent": "r3"}, "percent": 20, "reason": "after"}
    done = await api.ok("POST", "/admin/groups/checkout/changes", body, role="operator")
    assert done["revisions"] == {
        name: route["state"]["revision"] + 2 for name, route in exported["routes"].items()
    }


async def test_a_gateway_reading_while_routes_move_never_finds_one_absent(api, redis, simulator):
    """The gateway's reads racing many moves: the old keys go only after the home flipped, and
    a route read at its old home just as its keys go is read again at its new one
    (`gateway.sync`), so no read ever finds a route absent."""
    await seed_route(api, simulator.url, route="seed")
    names = [f"bot-{i}" for i in range(16)]
    for name in names:
        await api.ok("POST", "/admin/routes", {"name": name, "release": {"model": "sim-chat@1"}})
    absent: list[str] = []
    reads = 0
    stop = asyncio.Event()

    async def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            revisions = await read_revisions(redis)
            absent.extend(n for n in names if n not in revisions)
            for name in names[reads % 4 :: 4]:
                if await read_route(redis, name) is None:
                    absent.append(name)
            reads += 1

    readers = asyncio.gather(reader(), reader(), reader())
    for index in range(0, len(names), 2):
        body = {"routes": names[index : index + 2], "reason": "pair"}
        await api.ok("PUT", f"/admin/groups/pair-{index}", body)
    stop.set()
    await readers
    assert reads > 20 and absent == []
    assert len(await redis.hgetall(keys.ROUTE_HOMES)) == len(names)


async def test_a_read_begun_before_a_move_finds_the_route_at_its_new_home(api, redis, simulator):
    """The gateway read the index (and homes) just before the move, its keys afterwards: the
    old keys are gone by then, so it asks for the home again and reads the route there."""
    await _seed_two(api, simulator.url)
    names, homes = await read_index(redis)
    assert homes == {}
    await api.ok("PUT", "/admin/groups/checkout", JOIN)
    assert await redis.exists(keys.route_state("agent")) == 0  # the old home is empty now
    assert await read_revisions_at(redis, names, homes) == {"agent": 4, "router": 3}
    route = await read_route_at(redis, "agent", None)
    assert route is not None and route.state.group == "checkout" and len(route.releases) == 3

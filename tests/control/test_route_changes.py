"""Atomic route changes through the admin API: compare-and-set flips, promote, rollback from any
state, pin and unpin, release ids and change types, and the audit trail of each."""

import asyncio

from tests.control.conftest import redis_contents, seed_route

ROUTE = "/admin/routes/support"


async def flip(api, weights, revision, role="operator", reason="test"):
    body = {"weights": weights, "expected_revision": revision, "reason": reason}
    return await api.call("PUT", f"{ROUTE}/weights", body, role=role)


async def route_audit(api):
    return await api.ok("GET", "/admin/audit?route=support&limit=1000")


async def test_concurrent_flips_with_one_revision_exactly_one_wins(api):
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    revision = route["revision"]
    for round_ in range(15):
        split = {"r1": 100 - round_, "r2": round_}
        other = {"r1": round_, "r2": 100 - round_}
        (first, a), (second, b) = await asyncio.gather(
            flip(api, split, revision, role="operator", reason=f"olga {round_}"),
            flip(api, other, revision, role="admin", reason=f"alice {round_}"),
        )
        assert sorted((first, second)) == [200, 409], (a, b)
        winner, loser = (a, b) if first == 200 else (b, a)
        assert loser["error"]["code"] == "revision_conflict"
        assert loser["error"]["field"] == "expected_revision"
        assert winner["revision"] == revision + 1
        entries = [e for e in await route_audit(api) if e["revision"] == revision + 1]
        assert len(entries) == 1
        won_by = "olga" if first == 200 else "alice"
        assert (entries[0]["action"], entries[0]["actor"]) == ("route.flip", won_by)
        assert entries[0]["reason"] == f"{won_by} {round_}"
        revision += 1
    current = await api.ok("GET", ROUTE)
    assert current["revision"] == revision
    flips = [e for e in await route_audit(api) if e["action"] == "route.flip"]
    assert len(flips) == 15


async def test_a_stale_revision_is_a_409_and_changes_nothing(api):
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    status, _ = await flip(api, {"r1": 90, "r2": 10}, route["revision"])
    assert status == 200
    status, body = await flip(api, {"r1": 0, "r2": 100}, route["revision"])
    assert status == 409 and "is at revision 3, not 2" in body["error"]["message"]
    assert (await api.ok("GET", ROUTE))["weights"] == {"r1": 90, "r2": 10}


async def test_rollback_from_any_state_is_one_step_to_stable_at_100(api):
    route = await seed_route(api, "http://127.0.0.1:9/v1", systems=("A.", "B.", "C."))
    revision = route["revision"]
    setups = [
        ("mid-way", [("weights", {"r1": 70, "r2": 20, "r3": 10})]),
        ("pinned mid-way", [("weights", {"r1": 50, "r2": 50}), ("pin", None)]),
        ("all on a canary", [("weights", {"r1": 0, "r2": 0, "r3": 100})]),
    ]
    for label, steps in setups:
        for kind, weights in steps:
            if kind == "weights":
                status, body = await flip(api, weights, revision)
                assert status == 200, body
            else:
                body = await api.ok("POST", f"{ROUTE}/pin", {"reason": "hold"}, role="operator")
            revision = body["revision"]
        before = len(await route_audit(api))
        back = await api.ok("POST", f"{ROUTE}/rollback", {"reason": label}, role="operator")
        assert back["changed"] is True and back["revision"] == revision + 1, label
        assert back["stable"] == "r1"
        assert back["weights"] == {"r1": 100, "r2": 0, "r3": 0}, label
        entries = await route_audit(api)
        assert len(entries) == before + 1
        assert (entries[-1]["action"], entries[-1]["reason"]) == ("route.rollback", label)
        revision = back["revision"]
        if back["pinned"]:
            revision = (await api.ok("POST", f"{ROUTE}/unpin", {"reason": "go"}))["revision"]


async def test_rollback_when_already_at_stable_is_a_no_op(api, redis):
    from tests.control.conftest import redis_contents

    route = await seed_route(api, "http://127.0.0.1:9/v1")
    before = await redis_contents(redis)
    for body in ({"reason": "nothing to undo"}, {"reason": "again", "to": "r1"}):
        status, back = await api.call("POST", f"{ROUTE}/rollback", body, role="operator")
        assert status == 200, back
        assert back["changed"] is False
        assert back["message"] == "nothing to do: all traffic is already on r1 (revision 2)"
        assert back["revision"] == route["revision"]
        assert back["weights"] == {"r1": 100, "r2": 0}
    assert await redis_contents(redis) == before  # no audit entry, no revision, nothing
    # a rollback that moves traffic still changes the route, once
    await flip(api, {"r1": 90, "r2": 10}, route["revision"])
    back = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "undo"}, role="operator")
    assert (back["changed"], back["revision"]) == (True, route["revision"] + 2)
    again = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "undo"}, role="operator")
    assert (again["changed"], again["revision"]) == (False, back["revision"])
    assert [e["action"] for e in await route_audit(api)][-2:] == ["route.flip", "route.rollback"]
    status, error = await api.error("POST", f"{ROUTE}/rollback", {"reason": "x", "to": "r9"})
    assert status == 400 and error["field"] == "to"


async def test_a_rollback_already_at_stable_is_a_no_op_that_says_so(api, redis):
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    before = await redis_contents(redis)
    back = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "twice"}, role="operator")
    assert back["changed"] is False
    assert (back["revision"], back["weights"]) == (route["revision"], {"r1": 100, "r2": 0})
    assert await redis_contents(redis) == before  # no revision, no audit entry, no event
    to_stable = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "x", "to": "r1"})
    assert to_stable["changed"] is False
    moved = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "to r2", "to": "r2"})
    assert moved["changed"] is True and moved["revision"] == route["revision"] + 1
    again = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "to r2 again", "to": "r2"})
    assert again["changed"] is False and again["revision"] == moved["revision"]
    assert (await api.ok("GET", ROUTE))["changed"] is None


async def test_promote_then_rollback_to_the_previous_release(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    promoted = await api.ok("POST", f"{ROUTE}/promote", {"release": "r2", "reason": "good"})
    assert (promoted["stable"], promoted["weights"]) == ("r2", {"r1": 0, "r2": 100})
    assert [r["change_type"] for r in promoted["releases"]] == ["prompt", "stable"]
    back = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "bad", "to": "r1"})
    assert (back["stable"], back["weights"]) == ("r1", {"r1": 100, "r2": 0})
    actions = [(e["action"], e["actor"]) for e in await route_audit(api)]
    assert actions[-2:] == [("route.promote", "alice"), ("route.rollback", "alice")]


async def test_pin_and_unpin_are_audited_and_idempotent(api):
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    pinned = await api.ok("POST", f"{ROUTE}/pin", {"reason": "incident 42"}, role="operator")
    assert pinned["pinned"] is True and pinned["revision"] == route["revision"] + 1
    again = await api.ok("POST", f"{ROUTE}/pin", {"reason": "again"}, role="operator")
    assert again["revision"] == pinned["revision"]
    status, body = await api.call(
        "POST", f"{ROUTE}/unpin", {"reason": "x", "expected_revision": 1}, role="operator"
    )
    assert status == 409 and body["error"]["code"] == "revision_conflict"
    unpinned = await api.ok(
        "POST", f"{ROUTE}/unpin", {"reason": "over", "expected_revision": pinned["revision"]}
    )
    assert unpinned["pinned"] is False
    entries = await route_audit(api)
    assert [(e["action"], e["reason"]) for e in entries[-2:]] == [
        ("route.pin", "incident 42"),
        ("route.unpin", "over"),
    ]
    assert entries[-2]["before"]["pinned"] is False and entries[-2]["after"]["pinned"] is True


async def test_release_ids_and_change_types(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    await api.ok(
        "POST", "/admin/models/sim-chat/versions", {"provider": "sim", "upstream_model": "b"}
    )

    async def release(body):
        status, created = await api.call("POST", f"{ROUTE}/releases", body, role="operator")
        assert status == 201, created
        return created["release"]["id"], created["release"]["change_type"]

    base = {"prompt": "support@1", "model": "sim-chat@1"}
    assert await release({**base, "params": {"temperature": 0}}) == ("r3", "params")
    assert await release({**base, "artifacts": {"index": "v7"}}) == ("r4", "artifacts")
    assert await release({**base, "model": "sim-chat@2"}) == ("r5", "model")
    assert await release({"model": "sim-chat@2"}) == ("r6", "several")
    assert await release(base) == ("r7", "none")
    route = await api.ok("GET", ROUTE)
    assert [r["id"] for r in route["releases"]] == [f"r{i}" for i in range(1, 8)]
    assert route["weights"]["r7"] == 0 and route["stable"] == "r1"
    assert route["releases"][3]["artifacts"] == {"index": "v7"}


async def test_creating_an_existing_route_is_a_409(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    body = {"name": "support", "release": {"model": "sim-chat@1"}}
    status, created = await api.call("POST", "/admin/routes", body)
    assert status == 409 and created["error"]["field"] == "name"
    assert (await api.ok("GET", ROUTE))["releases"][0]["prompt"]["ref"] == "support@1"


async def test_audit_filters(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    await seed_route(api, "http://127.0.0.1:9/v1", route="other")
    everything = await api.ok("GET", "/admin/audit")
    assert {e["route"] for e in everything} == {None, "support", "other"}
    assert [e["id"] for e in everything] == sorted(
        (e["id"] for e in everything), key=lambda i: tuple(map(int, i.split("-")))
    )
    only = await api.ok("GET", "/admin/audit?route=other")
    assert {e["route"] for e in only} == {"other"}
    assert len(await api.ok("GET", "/admin/audit?limit=2")) == 2
    assert (await api.ok("GET", "/admin/audit?limit=1"))[0] == everything[-1]
    assert len(await api.ok("GET", "/admin/audit?since=1h")) == len(everything)
    assert await api.ok("GET", "/admin/audit?since=2999-01-01T00:00:00") == []


async def test_route_list(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    [summary] = await api.ok("GET", "/admin/routes", role="viewer")
    assert summary == {
        "name": "support",
        "revision": 2,
        "stable": "r1",
        "weights": {"r1": 100},
        "sticky": True,
        "pinned": False,
        "releases": 2,
    }

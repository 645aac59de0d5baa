"""The group rollout's script against real Redis: a stale controller's token, a stale record
version and a moved route are each refused with nothing written; the record lives under the
group's hash tag; a missing member is named by its route. A route rollout's own scripts refuse
to start one while the group's rollout is active, and concurrent starts never both run."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec

from control import keyspace
from control.grouprollout import record, storage
from control.grouprollout.tick import step_state
from control.notify.events import types_of
from control.rollout import storage as route_storage
from control.routes import views
from control.routes.audit import AuditEntry
from control.store import Store
from gateway.contract import keys
from gateway.contract.snapshot import RouteState
from tests.control.conftest import redis_contents, seed_route

ROUTES = ("helper", "support")


async def started(api, redis):
    for route in ROUTES:
        await seed_route(api, "http://127.0.0.1:9/v1", route)
    await api.ok("PUT", "/admin/groups/team", {"routes": list(ROUTES), "reason": "together"})
    body = {
        "releases": {route: "r2" for route in ROUTES},
        "reason": "new prompts",
        "steps": [10, 100],
        "skip_gate": True,
    }
    view = await api.ok("POST", "/admin/groups/team/rollouts", body, role="operator")
    assert view["rollout"]["change_type"] == "prompt"
    rollout = await storage.read(Store(redis), "team")
    assert rollout is not None
    return rollout


async def test_the_record_lives_under_the_groups_hash_tag(api, redis):
    await started(api, redis)
    assert keys.group_tag("team") == "turnout:{group:team}"
    assert keyspace.group_rollout("team").startswith("turnout:{group:team}:")
    assert await redis.exists(keyspace.group_rollout("team"))
    slot = keys.route_home("support", "team")  # the members live in the group's slot too
    assert slot.startswith("turnout:{group:team}:") and await redis.exists(f"{slot}:state")
    for route in ROUTES:
        raw = await redis.get(keys.route_state(route, "team"))
        state = msgspec.json.decode(raw, type=RouteState)
        assert state.weights_bp == {"r1": 9000, "r2": 1000}


async def test_stale_token_version_or_revision_is_refused_with_nothing_written(api, redis):
    rollout = await started(api, redis)
    store = Store(redis)
    after = record.bumped(rollout, status_reason="looked")
    assert (await storage.write(store, rollout.version, after, fence=7)).status == "ok"
    before = await redis_contents(redis)

    newer = record.bumped(after, status_reason="again")
    audit = ("group_rollout.hold", "controller", "x")
    stale = await storage.write(store, after.version, newer, fence=6, audit=audit)
    assert stale.status == "fenced" and stale.revision == 7
    conflict = await storage.write(store, rollout.version, newer, fence=7, audit=audit)
    assert conflict.status == "rollout_conflict" and conflict.revision == after.version

    states = {}
    for member in after.members:
        raw = await redis.get(keys.route_state(member.route, "team"))
        state = msgspec.json.decode(raw, type=RouteState)
        states[member.route] = (state.revision, step_state(state, member, 100))
    moved = dict(states)
    moved["support"] = (states["support"][0] - 1, states["support"][1])
    refused = await storage.write(store, after.version, newer, fence=7, audit=audit, states=moved)
    assert refused.status == "conflict" and refused.field == "support"
    assert await redis_contents(redis) == before  # none of the three wrote anything

    done = await storage.write(store, after.version, newer, fence=8, audit=audit, states=states)
    assert done.status == "ok"
    for route in ROUTES:
        entries = await redis.xrange(keys.route_audit(route, "team"))
        last = {k.decode(): v.decode() for k, v in entries[-1][1].items()}
        assert last["action"] == "group_rollout.hold"
        evidence = msgspec.json.decode(last["evidence"])
        assert evidence["group_rollout"] == {"id": rollout.id, "group": "team"}


def test_a_group_rollouts_audit_entries_are_rollout_webhook_events_of_each_route():
    def entry(action: str, before: dict, after: dict) -> AuditEntry:
        return AuditEntry(
            id="1-0", time=datetime.now(UTC), route="support", provider=None, action=action,
            actor="controller", reason="x", revision=3, release=None, before=before,
            after=after, evidence={"group_rollout": {"id": "abc", "group": "team"}},
        )  # fmt: skip

    moved = entry("group_rollout.rollback", {"weights": {"r1": 90, "r2": 10}}, {"weights": {}})
    assert types_of(moved) == ["weights.changed", "rollout.rolled_back"]
    assert types_of(entry("group_rollout.pause", {}, {})) == ["rollout.paused"]
    assert types_of(entry("group_rollout.hold", {}, {})) == []
    urgent = msgspec.structs.replace(
        entry("group_rollout.promote", {"stable": "r1"}, {"stable": "r2"}),
        evidence={"group_rollout": {"id": "abc", "group": "team"}, "emergency": True},
    )
    assert types_of(urgent) == [
        "weights.changed", "rollout.completed", "emergency.change", "review.needed"
    ]  # fmt: skip


async def test_a_missing_member_state_is_named_by_its_route_not_its_key(api, redis):
    rollout = await started(api, redis)
    await redis.delete(keys.route_state("support", "team"))  # lost, as after a data loss
    before = await redis_contents(redis)
    after = record.bumped(rollout, status_reason="looked")
    audit = ("group_rollout.hold", "controller", "x")
    refused = await storage.write(Store(redis), rollout.version, after, audit=audit)
    assert refused.status == "invalid"
    assert refused.field == "routes.support" and refused.rule == "route 'support' does not exist"
    assert "turnout:" not in f"{refused.field} {refused.rule}"
    assert await redis_contents(redis) == before


RUNNING = b'{"version": 1, "status": "running", "release": "r2"}'


async def test_a_route_rollout_cannot_start_in_the_scripts_while_its_groups_runs(api, redis):
    """Past every Python check: the route's own scripts read the group's rollout (same slot)."""
    rollout = await started(api, redis)
    store = Store(redis)
    data = await views.read(store, "support")
    before = await redis_contents(redis)
    moved = msgspec.structs.replace(
        data.state, revision=data.state.revision + 1, weights_bp={"r1": 5000, "r2": 5000}
    )
    commit = await store.commit_route(
        data.state.revision, moved, action="rollout.start", actor="a", reason="x",
        rollout=RUNNING, rollout_version=0,
    )  # fmt: skip
    assert (commit.status, commit.field, commit.rule) == ("group_rollout", rollout.id, "running")
    assert commit.group == "team"
    put = await store.put_rollout("support", 0, RUNNING)
    assert (put.status, put.field, put.group) == ("group_rollout", rollout.id, "team")
    assert await redis_contents(redis) == before  # nothing written
    # what does not start a route rollout is not the group's business
    ended = b'{"version": 1, "status": "aborted", "release": "r2"}'
    assert (await store.put_rollout("support", 0, ended)).status == "ok"


async def test_concurrent_route_and_group_starts_never_both_run(api, redis):
    for route in ROUTES:
        await seed_route(api, "http://127.0.0.1:9/v1", route)
    await api.ok("PUT", "/admin/groups/team", {"routes": list(ROUTES), "reason": "together"})
    group_body = {"releases": {r: "r2" for r in ROUTES}, "reason": "g", "steps": [10, 100],
                  "min_bake_s": 600, "skip_gate": True}  # fmt: skip
    route_body = {"release": "r2", "reason": "r", "steps": [10, 100], "min_bake_s": 600,
                  "skip_gate": True}  # fmt: skip
    store, wins = Store(redis), {"group": 0, "route": 0}

    async def later(delay_s: float, call: Any) -> Any:
        await asyncio.sleep(delay_s)
        return await call

    # The route's start is quicker: it is held back by a spread of delays, so that either may
    # reach its script first (and both sides win some rounds).
    for index in range(25):
        (g_status, g_error), (r_status, r_error) = await asyncio.gather(
            api.call("POST", "/admin/groups/team/rollouts", group_body, role="operator"),
            later(
                index % 5 * 0.001,
                api.call("POST", "/admin/routes/support/rollouts", route_body, role="operator"),
            ),
        )
        assert sorted((g_status, r_status)) == [201, 409], (g_error, r_error)
        group = await storage.read(store, "team")
        route = await route_storage.read(store, "support")
        running = {
            "group": group is not None and group.active,
            "route": route is not None and route.active,
        }
        assert sum(running.values()) == 1, running
        if g_status == 201:
            assert r_error["error"]["code"] in ("group_rollout_exists", "busy")
            wins["group"] += 1
            await api.ok("POST", "/admin/groups/team/rollouts/abort", {"reason": "x"},
                         role="operator")  # fmt: skip
        else:
            assert g_error["error"]["code"] in ("rollout_exists", "busy")
            wins["route"] += 1
            await api.ok("POST", "/admin/routes/support/rollouts/abort", {"reason": "x"},
                         role="operator")  # fmt: skip
    assert wins["group"] + wins["route"] == 25

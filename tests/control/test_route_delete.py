"""Deleting a route takes what belongs to it along (review items, gate verdicts, rollout record,
route-scoped windows and webhooks), audited, against the real admin API on a real Redis; a route
created again under the name starts clean, and what is not the route's stays. A member of a
group whose rollout is active cannot be deleted (409 naming the group rollout); a member lost
with data can only be aborted, which ends the group rollout on the routes that remain."""

import msgspec

from control import keyspace
from control.routes import views
from control.store import Store
from gateway.contract import keys
from gateway.contract.telemetry import affected_users
from tests.control.conftest import redis_contents, seed_route
from tests.control.test_backup import cli
from tests.seeding import write_raw

ROUTE = "/admin/routes/support"


async def test_deleting_a_route_removes_what_is_its_own_and_a_new_one_starts_clean(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1")
    await api.ok("POST", f"{ROUTE}/kill", {"release": "r2", "reason": "bad"}, role="operator")
    [review] = await api.ok("GET", f"{ROUTE}/reviews")
    await api.ok("PUT", "/admin/freeze", {"reason": "incident", "route": "support", "name": "f1"})
    await api.ok(
        "PUT", "/admin/windows/all", {"reason": "holidays", "start": "2030-01-01T00:00:00Z"}
    )
    hook = {"url": "http://127.0.0.1:9/hook", "secret_env": "HOOK_SECRET"}
    await api.ok("PUT", "/admin/webhooks/ops-support", {**hook, "route": "support"})
    await api.ok("PUT", "/admin/webhooks/ops-all", hook)
    await redis.hset(keyspace.gates("support"), "r2", b'{"verdict": "pass"}')  # a stored verdict
    await redis.set(keyspace.gate_dataset("support"), b"abc")
    await redis.zadd(affected_users("support", "r2"), {"user-7": 1.0})  # as the flush records

    deleted = await api.ok("DELETE", ROUTE, {"reason": "retired"})
    assert deleted["closed_reviews"] == [review["id"]]
    assert deleted["removed_windows"] == ["f1"] and deleted["removed_webhooks"] == ["ops-support"]
    [entry] = [
        e for e in await api.ok("GET", "/admin/audit?route=support") if e["reason"] == "retired"
    ]
    assert entry["action"] == "route.delete"
    assert entry["evidence"] == {
        "closed_reviews": [review["id"]],
        "removed_windows": ["f1"],
        "removed_webhooks": ["ops-support"],
    }
    window_audit = await redis.xrange(keyspace.WINDOWS_AUDIT)
    last = window_audit[-1][1]
    assert (last[b"window"], last[b"action"]) == (b"f1", b"window.delete")
    assert last[b"reason"] == b"route support deleted: retired"
    for key in (keyspace.reviews, keyspace.gates, keyspace.gate_dataset, keyspace.rollout):
        assert not await redis.exists(key("support")), key
    assert not await redis.exists(affected_users("support", "r2"))  # personal data goes too
    # what was not the route's stays
    assert [w["window"]["name"] for w in await api.ok("GET", "/admin/windows")] == ["all"]
    assert [h["name"] for h in await api.ok("GET", "/admin/webhooks")] == ["ops-all"]

    await seed_route(api, "http://127.0.0.1:9/v1")  # the same name again
    assert await api.ok("GET", f"{ROUTE}/reviews?status=all") == []
    assert (await api.ok("GET", "/admin/freeze?route=support"))["freeze"] is None
    route = await api.ok("GET", ROUTE)
    assert route["rollout"] is None and route["kill_switch"] is None
    assert route["open_reviews"] == []
    assert await api.ok("GET", f"{ROUTE}/gates") in ([], {})


async def test_a_missing_route_is_a_404_and_changes_nothing(api, redis):
    hook = {"url": "http://127.0.0.1:9/hook", "secret_env": "HOOK_SECRET", "route": "nope"}
    await api.ok("PUT", "/admin/webhooks/h", hook)
    status, error = await api.error("DELETE", "/admin/routes/nope", {"reason": "x"})
    assert (status, error["field"]) == (404, "route")
    assert [h["name"] for h in await api.ok("GET", "/admin/webhooks")] == ["h"]


async def test_the_cli_says_what_the_deletion_took_along(api, admin, capsys):
    await seed_route(api, "http://127.0.0.1:9/v1")
    await api.ok("POST", f"{ROUTE}/kill", {"release": "r2", "reason": "bad"}, role="operator")
    [review] = await api.ok("GET", f"{ROUTE}/reviews")
    await api.ok("PUT", "/admin/freeze", {"reason": "incident", "route": "support", "name": "f1"})
    code, out, _ = await cli(admin, capsys, "route", "delete", "support", "--reason", "retired")
    assert code == 0
    assert out.splitlines() == [
        "deleted route support (last revision 3)",
        f"  closed review item(s): {review['id']}",
        "  removed window(s): f1",
    ]


GROUP_ROLLOUT = {"releases": {"helper": "r2", "support": "r2"}, "reason": "new prompts",
                 "steps": [10, 100], "skip_gate": True}  # fmt: skip


async def test_a_member_of_a_group_with_an_active_rollout_is_not_deleted(api, redis):
    for route in ("helper", "support"):
        await seed_route(api, "http://127.0.0.1:9/v1", route)
    await api.ok("PUT", "/admin/groups/team", {"routes": ["helper", "support"], "reason": "x"})
    started = await api.ok("POST", "/admin/groups/team/rollouts", GROUP_ROLLOUT, role="operator")
    await api.ok("POST", "/admin/groups/team/rollouts/pause", {"reason": "look"}, role="operator")
    before = await redis_contents(redis)
    status, error = await api.error("DELETE", ROUTE, {"reason": "retired"})
    assert status == 409 and error["code"] == "group_rollout_active"
    assert started["rollout"]["id"] in error["message"] and "'team'" in error["message"]
    assert "paused" in error["message"] and "rollouts/abort" in error["message"]
    assert await redis_contents(redis) == before  # not even the deletion record stays
    await api.ok("POST", "/admin/groups/team/rollouts/abort", {"reason": "x"}, role="operator")
    deleted = await api.ok("DELETE", ROUTE, {"reason": "retired"})
    assert deleted["deleted"] is True


async def test_a_member_lost_with_data_leaves_abort_to_end_the_group_rollout(api, redis):
    for route in ("helper", "support"):
        await seed_route(api, "http://127.0.0.1:9/v1", route)
    await api.ok("PUT", "/admin/groups/team", {"routes": ["helper", "support"], "reason": "x"})
    await api.ok("POST", "/admin/groups/team/rollouts", GROUP_ROLLOUT, role="operator")
    await redis.delete(keys.route_state("support", "team"))  # lost, not deleted
    status, error = await api.error(
        "POST", "/admin/groups/team/rollouts/promote", {"reason": "x"}, role="operator"
    )
    assert status == 409 and error["code"] == "route_missing"
    status, error = await api.error(
        "POST", "/admin/groups/team/rollouts/pause", {"reason": "x"}, role="operator"
    )  # the route named, not its Redis key
    assert status == 400 and error["message"] == "routes.support: route 'support' does not exist"
    ended = await api.ok(
        "POST", "/admin/groups/team/rollouts/abort", {"reason": "support lost"}, role="operator"
    )
    assert ended["rollout"]["status"] == "aborted"
    assert [m["route"] for m in ended["rollout"]["members"]] == ["helper"]
    helper = (await views.read(Store(redis), "helper")).state
    assert helper.weights_bp == {"r1": 10_000}


async def test_a_grouped_route_outside_its_groups_slot_is_checked_too(api, redis):
    """Grouped before groups had a slot: the deletion's script cannot read the group's rollout
    (another slot on Cluster), so it is checked just before."""
    for route in ("helper", "support"):
        await seed_route(api, "http://127.0.0.1:9/v1", route)
        data = await views.read(Store(redis), route)
        revision = data.state.revision + 1
        await write_raw(redis, msgspec.structs.replace(data.state, revision=revision, group="old"))
    body = {**GROUP_ROLLOUT, "steps": [10, 100]}
    started = await api.ok("POST", "/admin/groups/old/rollouts", body, role="operator")
    status, error = await api.error("DELETE", ROUTE, {"reason": "retired"})
    assert status == 409 and error["code"] == "group_rollout_active"
    assert started["rollout"]["id"] in error["message"] and "'old'" in error["message"]
    assert await api.ok("GET", ROUTE)

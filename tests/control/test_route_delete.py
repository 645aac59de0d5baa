"""Deleting a route takes what belongs to it along (review items, gate verdicts, rollout record,
route-scoped windows and webhooks), audited, against the real admin API on a real Redis; a route
created again under the name starts clean, and what is not the route's stays."""

from control import keyspace
from gateway.contract.telemetry import affected_users
from tests.control.conftest import seed_route
from tests.control.test_backup import cli

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

"""The kill switch: one audited flip sends every call of the route, on every gateway replica
(two real gateway processes), to one release, overriding weights and X-Turnout-Release pins;
it opens a needs-review item, shows in `route show` and the control plane's metrics, and works
in a freeze. `turnout rollback --emergency` engages it on the stable release."""

import asyncio
import time

from tests.conftest import wait_for
from tests.control.conftest import seed_route
from tests.control.test_cli import Cli

ROUTE = "/admin/routes/support"


async def releases_served(http, gateway, users, pin=None):
    headers = {"X-Turnout-Release": pin} if pin else {}
    seen = set()
    for user in users:
        body = {"model": "support", "messages": [{"role": "user", "content": "hi"}], "user": user}
        async with http.post(
            f"{gateway.url}/v1/chat/completions", json=body, headers=headers
        ) as response:
            assert response.status == 200, await response.text()
            await response.read()
            seen.add(response.headers["X-Turnout-Release"])
    return seen


async def test_kill_switch_reaches_every_replica_in_one_flip(
    api, redis_server, simulator, gateway_processes, http
):
    route = await seed_route(api, simulator.url)
    body = {"weights": {"r1": 50, "r2": 50}, "expected_revision": route["revision"], "reason": "ab"}
    split = await api.ok("PUT", f"{ROUTE}/weights", body, role="operator")
    replicas = await asyncio.gather(
        gateway_processes(redis_server.url), gateway_processes(redis_server.url)
    )
    users = [f"user-{i}" for i in range(40)]

    async def both(replica):
        return await releases_served(http, replica, users) == {"r1", "r2"}

    for replica in replicas:
        await wait_for(lambda r=replica: both(r), timeout_s=10, step_s=0.1)
    before = await api.ok("GET", "/admin/audit?route=support&limit=1000")

    await api.ok("PUT", "/admin/freeze", {"reason": "incident"}, role="operator")
    started = time.perf_counter()
    killed = await api.ok(
        "POST", f"{ROUTE}/kill", {"release": "r2", "reason": "r1 leaks data"}, role="operator"
    )
    assert killed["kill_switch"] == "r2" and killed["revision"] == split["revision"] + 1

    async def all_killed(replica):
        return await releases_served(http, replica, users[:5]) == {"r2"}

    for replica in replicas:
        await wait_for(lambda r=replica: all_killed(r), timeout_s=5, step_s=0.002)
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < 2.0  # pub/sub, not the 0.5 s poll repeated
    for replica in replicas:
        assert await releases_served(http, replica, users) == {"r2"}
        assert await releases_served(http, replica, users[:5], pin="r1") == {"r2"}

    after = await api.ok("GET", "/admin/audit?route=support&limit=1000")
    new = after[len(before) :]
    assert [(e["action"], e["evidence"]["emergency"]) for e in new] == [("route.kill", True)]
    shown = await api.ok("GET", ROUTE, role="viewer")
    assert [r["action"] for r in shown["open_reviews"]] == ["route.kill"]
    assert shown["weights"] == {"r1": 50, "r2": 50}  # kept for when the switch is lifted
    resolved = await api.ok("GET", "/admin/resolve?route=support&key=user-1", role="viewer")
    assert resolved["release"] == "r2"

    async with http.get(f"{api.admin.url}/metrics") as response:
        metrics = await response.text()
    assert 'turnout_open_reviews{route="support"} 1.0' in metrics
    assert 'turnout_kill_switch{release="r2",route="support"} 1.0' in metrics

    lifted = await api.ok("POST", f"{ROUTE}/unkill", {"reason": "fixed"}, role="operator")
    assert lifted["kill_switch"] is None

    async def split_again(replica):
        return await releases_served(http, replica, users) == {"r1", "r2"}

    for replica in replicas:
        await wait_for(lambda r=replica: split_again(r), timeout_s=5, step_s=0.05)


async def test_rollback_emergency_and_route_show_from_the_cli(admin, api, capsys):
    cli = Cli(admin, capsys)
    await seed_route(api, "http://127.0.0.1:9/v1")
    code, out, _ = await cli("freeze", "--reason", "launch", role="operator")
    assert code == 0 and "freeze all routes" in out
    code, _, err = await cli("promote", "support", "r2", "--reason", "x", role="operator")
    assert code == 1 and "frozen by window 'freeze'" in err
    code, out, _ = await cli(
        "rollback", "support", "--to", "r2", "--emergency", "--reason", "bad r1", role="operator"
    )
    assert code == 0
    assert "KILL SWITCH: every call gets r2" in out and "FROZEN by window freeze" in out
    assert "NEEDS REVIEW" in out and "route.rollback by olga (bad r1)" in out
    code, out, _ = await cli("reviews", "support", role="viewer")
    review_id = out.splitlines()[1].split()[0]
    code, out, _ = await cli(
        "review", "ack", "support", review_id, "--note", "verified", role="operator"
    )
    assert code == 0 and "acknowledged" in out
    code, out, _ = await cli("route", "show", "support", role="viewer")
    assert "NEEDS REVIEW" not in out and "KILL SWITCH" in out
    code, out, _ = await cli("windows", "list", role="viewer")
    assert code == 0 and "OPEN" in out.splitlines()[1]
    code, out, _ = await cli(
        "windows",
        "set",
        "weekend",
        "--days",
        "fri",
        "--hours",
        "17:00-08:00",
        "--timezone",
        "Europe/Berlin",
        "--route",
        "support",
        "--reason",
        "off",
        role="operator",
    )
    assert code == 0 and "fri 17:00-08:00 Europe/Berlin" in out
    code, out, _ = await cli("audit", "--limit", "100", role="viewer")
    assert "window weekend" in out and "kill switch -> r2" in out
    code, _, _ = await cli("windows", "delete", "freeze", "--reason", "done", role="operator")
    code, _, _ = await cli("unkill", "support", "--reason", "done", role="operator")
    code, out, _ = await cli("promote", "support", "r1", "--reason", "back", role="operator")
    assert code == 0 and "KILL SWITCH" not in out

"""A route's retry policy through the admin API and the CLI (an audited, compare-and-set route
change that gateways apply), and the canary fallback seen through the stats API: a fallback
never hides a failing release from its numbers."""

import asyncio

import pytest

from simulator.behaviour import Behaviour
from tests.conftest import wait_for
from tests.control.conftest import redis_contents, seed_route
from tests.control.test_cli import Cli

ROUTE = "/admin/routes/support"
POLICY = {
    "max_retries": 1,
    "budget_percent": 100,
    "retry_after_cap_s": 2,
    "backoff_ms": 0,
    "fallback": True,
}


async def test_set_audited_shown_and_turned_off(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    route = await api.ok("GET", ROUTE)
    assert route["retry"] is None
    body = {"retry": POLICY, "reason": "canary safety net"}
    changed = await api.ok("PUT", f"{ROUTE}/retry", body, role="operator")
    assert changed["retry"] == POLICY and changed["revision"] == route["revision"] + 1
    again = await api.ok("PUT", f"{ROUTE}/retry", body, role="operator")
    assert again["revision"] == changed["revision"]  # the same policy: nothing to change
    [entry] = await api.ok("GET", "/admin/audit?route=support&limit=1")
    assert entry["action"] == "route.retry" and entry["reason"] == "canary safety net"
    assert entry["before"]["retry"] is None and entry["after"]["retry"] == POLICY
    assert entry["actor"] == "olga"

    off = await api.ok("PUT", f"{ROUTE}/retry", {"retry": None, "reason": "off"}, role="operator")
    assert off["retry"] is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"retry": {**POLICY, "max_retries": 9}, "reason": "x"}, 400, "retry.max_retries"),
        ({"retry": {**POLICY, "budget_percent": -1}, "reason": "x"}, 400, "retry.budget_percent"),
        ({"retry": {**POLICY, "colour": 1}, "reason": "x"}, 400, "retry.colour"),
        ({"retry": POLICY, "reason": ""}, 400, "reason"),
        ({"retry": POLICY, "reason": "x", "expected_revision": 1}, 409, "expected_revision"),
    ],
)
async def test_bad_policies_are_refused_with_nothing_written(api, redis, body, status, field):
    await seed_route(api, "http://127.0.0.1:9/v1")
    before = await redis_contents(redis)
    code, error = await api.error("PUT", f"{ROUTE}/retry", body, role="operator")
    assert code == status and error["field"] == field
    assert await redis_contents(redis) == before


async def test_viewers_may_not_change_it(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    status, _ = await api.call(
        "PUT", f"{ROUTE}/retry", {"retry": None, "reason": "x"}, role="viewer"
    )
    assert status == 403


async def test_cli_sets_and_shows_it(admin, api, capsys):
    await seed_route(api, "http://127.0.0.1:9/v1")
    cli = Cli(admin, capsys)
    code, out, err = await cli(
        "retry", "set", "support", "--retries", "3", "--budget", "5", "--fallback",
        "--reason", "flaky provider", role="operator",
    )  # fmt: skip
    assert code == 0, err
    assert "retries 3 within 5% budget" in out and "fallback on" in out
    code, out, _ = await cli("route", "show", "support")
    assert any(line.startswith("retries 3 within 5% budget") for line in out.splitlines())
    code, out, _ = await cli("audit", "--route", "support")
    assert "route.retry" in out and "retries 3 within 5% budget" in out
    code, out, _ = await cli("retry", "off", "support", "--reason", "stable", role="operator")
    assert code == 0 and "retries off" in out
    code, _, err = await cli("retry", "set", "support", "--retries", "9", "-m", "x")
    assert code == 1 and "max_retries" in err


async def test_fallback_keeps_the_canary_failure_in_its_stats(
    api, simulator, redis_server, gateway_factory, http
):
    await seed_route(api, simulator.url, systems=("You are helpful.",))
    await api.ok(
        "POST",
        "/admin/models/sim-bad/versions",
        {"provider": "sim", "upstream_model": "sim-bad"},
    )
    await api.ok("POST", f"{ROUTE}/releases", {"prompt": "support@1", "model": "sim-bad@1"})
    route = await api.ok("GET", ROUTE)
    flip = {"weights": {"r1": 70, "r2": 30}, "expected_revision": route["revision"], "reason": "c"}
    await api.ok("PUT", f"{ROUTE}/weights", flip)
    route = await api.ok("PUT", f"{ROUTE}/retry", {"retry": POLICY, "reason": "net"})
    simulator.state.behaviours["sim-bad"] = Behaviour(status=500)
    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.1)
    await wait_for(
        lambda: gateway.context.holder.table.routes["support"].revision == route["revision"]
    )

    async def one(index: int) -> tuple[int, str, str | None]:
        body = {
            "model": "support",
            "messages": [{"role": "user", "content": "hi"}],
            "user": f"user-{index}",
        }
        async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
            await response.read()
            headers = response.headers
            return (
                response.status,
                headers["X-Turnout-Release"],
                headers.get("X-Turnout-Fallback-From"),
            )

    answers = await asyncio.gather(*(one(i) for i in range(200)))
    assert {(status, release) for status, release, _ in answers} == {(200, "r1")}
    fell = sum(1 for *_, source in answers if source == "r2")
    assert 30 < fell < 90  # ~30% of the users are on the canary
    # the canary's call was retried once (max_retries 1) before falling back
    assert simulator.state.calls == {"sim-bad": 2 * fell, "sim-chat": 200}

    async def flushed() -> bool:
        data = await api.ok("GET", f"{ROUTE}/stats?window=5m", role="viewer")
        return sum(r["requests"] for r in data["releases"]) == 200 + fell

    await wait_for(flushed, timeout_s=5)
    data = await api.ok("GET", f"{ROUTE}/stats?window=5m", role="viewer")
    by_release = {r["release"]: r for r in data["releases"]}
    assert by_release["r2"]["requests"] == fell
    assert by_release["r2"]["errors"] == {"upstream_5xx": fell}
    assert by_release["r2"]["error_rate"] == 1.0
    assert by_release["r1"]["requests"] == 200 and by_release["r1"]["errors"] == {}

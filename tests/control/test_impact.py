"""Blast radius: impact figures exact against calls, users, errors and thumbs-down this test
counts itself; distinct users by HyperLogLog within its error at 10,000 users; the affected-user
export only when the route opted in, and its retention enforced."""

import asyncio
import time

import msgspec

from control.impact.read import read_impact
from control.routes.views import RouteData
from gateway.contract import telemetry as tk
from gateway.telemetry.flush import Flusher
from gateway.telemetry.recorder import Recorder
from simulator.behaviour import Behaviour
from tests import builders
from tests.conftest import wait_for
from tests.control.test_cli import Cli

ROUTE = "/admin/routes/shop"
PRICES = {"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0}


async def seed(api, simulator):
    await api.ok("PUT", "/admin/providers/sim", {"base_url": simulator.url})
    for name in ("good", "bad"):
        body = {"provider": "sim", "upstream_model": f"sim-{name}", **PRICES}
        await api.ok("POST", f"/admin/models/{name}/versions", body)
    await api.ok("POST", "/admin/routes", {"name": "shop", "release": {"model": "good@1"}})
    await api.ok("POST", f"{ROUTE}/releases", {"model": "bad@1"})
    body = {"weights": {"r1": 60, "r2": 40}, "expected_revision": 2, "reason": "canary"}
    await api.ok("PUT", f"{ROUTE}/weights", body)
    simulator.state.behaviours["sim-bad"] = Behaviour(error_every=4, error_status=500)


class Counted:
    """What this test saw, per release: calls, errors, users, thumbs-down, tokens."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.users: dict[str, set[str]] = {}
        self.down: dict[str, int] = {}
        self.tokens: dict[str, list[int]] = {}

    def add(self, release: str, user: str, status: int, usage: dict | None) -> None:
        self.calls[release] = self.calls.get(release, 0) + 1
        self.errors[release] = self.errors.get(release, 0) + (status != 200)
        self.users.setdefault(release, set()).add(user)
        tokens = self.tokens.setdefault(release, [0, 0])
        if usage:
            tokens[0] += usage["prompt_tokens"]
            tokens[1] += usage["completion_tokens"]


async def drive(http, gateway, counted: Counted, users: int) -> None:
    semaphore = asyncio.Semaphore(16)

    async def one(index: int) -> None:
        user = f"customer-{index % users}"
        body = {"model": "shop", "messages": [{"role": "user", "content": "hi"}], "user": user}
        async with semaphore, http.post(f"{gateway.url}/v1/chat/completions", json=body) as r:
            answer = await r.json()
            release = r.headers["X-Turnout-Release"]
            counted.add(release, user, r.status, answer.get("usage"))
            if r.status == 200 and index % 3 == 0:  # every third answered call: thumbs-down
                feedback = {"call_id": r.headers["X-Turnout-Call-Id"], "value": "down"}
                async with http.post(f"{gateway.url}/v1/feedback", json=feedback) as f:
                    assert f.status == 202, await f.text()
                counted.down[release] = counted.down.get(release, 0) + 1

    await asyncio.gather(*(one(i) for i in range(users * 3)))


def check(figures, counted: Counted, release: str) -> None:
    assert figures["calls"] == counted.calls[release]
    assert figures["errors"] == counted.errors[release]
    assert figures["error_rate"] == counted.errors[release] / counted.calls[release]
    assert figures["thumbs_down"] == counted.down.get(release, 0)
    assert abs(figures["distinct_users"] - len(counted.users[release])) <= 1  # HLL, small n
    tokens_in, tokens_out = counted.tokens[release]
    assert (figures["tokens_in"], figures["tokens_out"]) == (tokens_in, tokens_out)
    expected_cost = (tokens_in * 2.0 + tokens_out * 8.0) / 1e6
    assert abs(figures["cost_usd"] - expected_cost) < 1e-9


async def test_impact_is_exact_against_our_own_counts(
    api, admin, redis_server, simulator, gateway_factory, http, capsys
):
    await seed(api, simulator)
    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.1)
    await wait_for(lambda: "shop" in gateway.context.holder.table.routes, timeout_s=3)
    await wait_for(lambda: gateway.context.holder.table.routes["shop"].revision == 3, timeout_s=3)
    counted = Counted()
    await drive(http, gateway, counted, users=80)
    assert counted.errors["r2"] > 0 and counted.errors.get("r1") == 0
    path = f"{ROUTE}/releases/r2/impact?since=10m"

    async def flushed() -> bool:
        found = await api.ok("GET", path, role="viewer")
        return found["release_figures"]["thumbs_down"] == counted.down["r2"] and (
            found["release_figures"]["calls"] == counted.calls["r2"]
        )

    await wait_for(flushed, timeout_s=5, step_s=0.1)
    found = await api.ok("GET", path, role="viewer")
    check(found["release_figures"], counted, "r2")
    check(found["stable_figures"], counted, "r1")  # all within the minutes r2 served
    assert sum(m["calls"] for m in found["per_minute"]) == counted.calls["r2"]
    assert found["users_recorded"] is False

    status, error = await api.error("GET", f"{ROUTE}/releases/r2/users", role="operator")
    assert status == 409 and error["code"] == "users_not_recorded"
    status, error = await api.error("GET", f"{ROUTE}/releases/r9/impact", role="viewer")
    assert status == 404 and error["field"] == "release"  # like any unknown release in a path

    cli = Cli(admin, capsys)
    code, out, _ = await cli("impact", "shop", "r2", "--since", "10m", role="viewer")
    assert code == 0
    line = out.splitlines()[2].split()
    assert line[:2] == ["r2", str(counted.calls["r2"])]


async def test_user_export_only_when_opted_in_and_within_retention(
    api, admin, redis, redis_server, simulator, gateway_factory, http, capsys
):
    await seed(api, simulator)
    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.1)
    body = {"enabled": True, "retention": "2s", "reason": "notify customers"}
    status, error = await api.error("PUT", f"{ROUTE}/record-users", body, role="operator")
    assert status == 403  # personal data: admins decide
    route = await api.ok("PUT", f"{ROUTE}/record-users", body)
    assert route["record_users_s"] == 2
    await wait_for(lambda: gateway.context.holder.table.routes["shop"].revision == 4, timeout_s=3)
    first, second = Counted(), Counted()
    await drive(http, gateway, first, users=30)
    expected = first.users["r2"]

    async def exported() -> set[str]:
        users = await api.ok("GET", f"{ROUTE}/releases/r2/users?since=10m", role="operator")
        return {u["key"] for u in users}

    await wait_for(lambda: _equal(exported(), expected), timeout_s=5, step_s=0.1)
    cli = Cli(admin, capsys)
    code, out, _ = await cli("impact", "shop", "r2", "--users", "--format", "jsonl")
    rows = [msgspec.json.decode(line) for line in out.splitlines()]
    assert code == 0 and {r["key"] for r in rows} == expected
    code, out, _ = await cli("impact", "shop", "r2", "--users")
    assert out.splitlines()[0] == "key,last_seen" and len(out.splitlines()) == len(expected) + 1

    await asyncio.sleep(2.2)  # past the retention: the old keys must go
    assert await exported() == set()
    await drive(http, gateway, second, users=1)
    release = next(iter(second.calls))
    await wait_for(lambda: _has(redis, release, "customer-0"), timeout_s=5, step_s=0.1)
    stored = {m.decode() for m in await redis.zrange(tk.affected_users("shop", release), 0, -1)}
    assert stored == {"customer-0"}  # the flush trimmed everything older than 2 s

    off = {"enabled": False, "reason": "campaign over"}
    assert (await api.ok("PUT", f"{ROUTE}/record-users", off))["record_users_s"] == 0
    assert not await redis.exists(tk.affected_users("shop", release))
    status, error = await api.error("GET", f"{ROUTE}/releases/r2/users", role="operator")
    assert status == 409
    bad = {"enabled": True, "retention": "forever", "reason": "x"}
    status, error = await api.error("PUT", f"{ROUTE}/record-users", bad)
    assert status == 400 and error["field"] == "retention"


async def _equal(found, expected) -> bool:
    return await found == expected


async def _has(redis, release, key) -> bool:
    return await redis.zscore(tk.affected_users("shop", release), key) is not None


async def test_distinct_users_within_hll_error_at_10k(redis):
    recorder = Recorder()
    stats = recorder.stats_for("hll", "r2")
    flusher = Flusher(redis, recorder, interval_s=60, process="t")
    users = [f"user-{i}" for i in range(10_000)]
    for part in (users[:6000], users[4000:]):  # two flushes, 2,000 keys in both
        for user in part:
            stats.note_key(user)
            stats.record(200, "ok", 0.01, 0.005)
        await flusher.flush()
    data = RouteData(
        state=builders.state("hll", {"r1": 50, "r2": 50}),
        releases={"r1": builders.release("r1"), "r2": builders.release("r2")},
        meta={},
    )
    now_s = int(time.time())
    found = await read_impact(redis, data, "r2", now_s - 120, now_s)
    assert found.release_figures.calls == 12_000  # exact
    estimate = found.release_figures.distinct_users
    # Redis' HyperLogLog: standard error 0.81%; 3 standard errors
    assert abs(estimate - 10_000) <= 3 * 0.0081 * 10_000, estimate

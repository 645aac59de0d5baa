"""`GET /admin/routes/{route}/stats` and `turnout stats`: exact per-release counts end to end."""

import asyncio

import pytest
import scipy.stats

from simulator.behaviour import Behaviour
from tests.conftest import Admin, wait_for
from tests.control.conftest import seed_route
from turnout.cli import main

ROUTE = "/admin/routes/support"


@pytest.fixture
async def split_route(api, simulator):
    """r1 on sim-chat, r2 on sim-chat-b (a different upstream model), 50/50, not sticky."""
    await seed_route(api, simulator.url, systems=("You are helpful.",))
    await api.ok(
        "POST",
        "/admin/models/sim-chat-b/versions",
        {
            "provider": "sim",
            "upstream_model": "sim-chat-b",
            "input_usd_per_mtok": 1.0,
            "output_usd_per_mtok": 4.0,
        },
    )
    await api.ok("POST", f"{ROUTE}/releases", {"prompt": "support@1", "model": "sim-chat-b@1"})
    route = await api.ok("GET", ROUTE)
    body = {
        "weights": {"r1": 50, "r2": 50},
        "expected_revision": route["revision"],
        "reason": "half and half",
    }
    return await api.ok("PUT", f"{ROUTE}/weights", body)


async def send(http, url, count, concurrency=25):
    seen: dict[str, dict[int, int]] = {}
    calls: dict[str, str] = {}
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index):
        body = {
            "model": "support",
            "messages": [{"role": "user", "content": "hi"}],
            "user": f"user-{index}",
        }
        async with semaphore, http.post(f"{url}/v1/chat/completions", json=body) as response:
            await response.read()
            release = response.headers["X-Turnout-Release"]
            seen.setdefault(release, {}).setdefault(response.status, 0)
            seen[release][response.status] += 1
            calls[response.headers["X-Turnout-Call-Id"]] = release

    await asyncio.gather(*(one(i) for i in range(count)))
    return seen, calls


async def test_stats_report_exactly_what_was_sent(
    api, split_route, simulator, redis_server, gateway_factory, http
):
    simulator.state.behaviours["sim-chat-b"] = Behaviour(error_every=20, error_status=500)
    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.1)
    await wait_for(
        lambda: gateway.context.holder.table.routes["support"].revision == split_route["revision"]
    )
    seen, calls = await send(http, gateway.url, 1000)
    for index, call_id in enumerate(list(calls)[:100]):
        async with http.post(
            f"{gateway.url}/v1/feedback",
            json={"call_id": call_id, "value": "down" if index % 5 else "up"},
        ) as response:
            assert response.status == 202

    async def complete():
        data = await api.ok("GET", f"{ROUTE}/stats?window=5m", role="viewer")
        return sum(r["requests"] for r in data["releases"]) == 1000

    await wait_for(complete, timeout_s=5)
    data = await api.ok("GET", f"{ROUTE}/stats?window=5m", role="viewer")
    assert data["route"] == "support" and data["window_s"] == 300
    by_release = {r["release"]: r for r in data["releases"]}
    assert set(by_release) == {"r1", "r2"}
    for release, statuses in seen.items():
        stats = by_release[release]
        assert stats["requests"] == sum(statuses.values())
        assert stats["errors"] == ({"upstream_5xx": statuses[500]} if 500 in statuses else {})
        assert stats["weight_percent"] == 50
        assert stats["observed_share_percent"] == pytest.approx(
            100 * sum(statuses.values()) / 1000, abs=0.01
        )
        assert stats["latency_ms"]["p50"] > 0
        sent_feedback = [c for c in list(calls)[:100] if calls[c] == release]
        assert stats["feedback"]["count"] == len(sent_feedback)
    assert seen["r1"] == {200: seen["r1"][200]}
    assert 0 < seen["r2"][500] < seen["r2"][200]
    ok_r2 = seen["r2"][200]
    assert by_release["r2"]["tokens_in"] > 0
    per_call_in = by_release["r2"]["tokens_in"] // ok_r2
    assert by_release["r2"]["tokens_in"] == per_call_in * ok_r2  # every OK call counted once
    expected_cost = by_release["r2"]["tokens_in"] * 1.0 + by_release["r2"]["tokens_out"] * 4.0
    assert by_release["r2"]["cost_usd"] == pytest.approx(expected_cost / 1e6)
    # every call had its own user: distinct sticky keys = requests (HyperLogLog, ~1% error)
    for release, statuses in seen.items():
        assert by_release[release]["distinct_keys"] == pytest.approx(
            sum(statuses.values()), rel=0.03
        )
        assert by_release[release]["feedback"]["score_variance"] is None  # no scores sent
    observed = [by_release[r]["requests"] for r in ("r1", "r2")]
    assert data["srm_p_value"] == pytest.approx(scipy.stats.chisquare(observed).pvalue, rel=1e-6)
    assert data["srm_keys_p_value"] is not None


async def test_stats_cli_prints_an_aligned_table(api, admin, split_route, capsys):
    capsys.readouterr()
    flags = ["--admin-url", admin.url, "--token", Admin.token("viewer")]
    code = await asyncio.to_thread(main, ["stats", "support", "--window", "1h", *flags])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "support over the last 1h"
    assert out[1].split()[:4] == ["RELEASE", "WEIGHT%", "SHARE%", "REQS"]
    assert [line.split()[0] for line in out[2:]] == ["r1", "r2"]
    column = out[1].index("REQS")  # aligned: every row's request count starts under REQS
    assert all(line[column - 1] == " " and line[column] != " " for line in out[2:])


@pytest.mark.parametrize("window", ["0m", "8d", "15", "abc", "30s"])
async def test_bad_window_is_400_naming_it(api, split_route, window):
    status, error = await api.error("GET", f"{ROUTE}/stats?window={window}", role="viewer")
    assert status == 400
    assert error["field"] == "window"


async def test_unknown_route_is_404_and_token_is_required(api):
    status, error = await api.error("GET", "/admin/routes/nope/stats", role="viewer")
    assert status == 404
    assert "nope" in error["message"]
    status, _ = await api.call("GET", f"{ROUTE}/stats", role=None)
    assert status == 401

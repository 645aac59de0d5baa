"""Release-aware retries: connect errors, 429 and 5xx retried within the route's policy and
budget (upstream calls counted at the simulator), Retry-After honoured up to its cap, nothing
retried once sent and failed or once a stream reached the caller; the canary fallback."""

import asyncio
import time

import msgspec
import pytest

from gateway.contract.snapshot import ReleaseSpec, RetryPolicy
from gateway.retry import RESERVE, RetryBudget, retry_after_ms, retry_after_s
from simulator.behaviour import Behaviour
from tests import builders
from tests.conftest import free_port, wait_for
from tests.gateway.conftest import fault_routes
from tests.seeding import seed_provider, seed_route

BODY = {"model": "bot", "messages": [{"role": "user", "content": "hi"}]}


def policy(**fields) -> RetryPolicy:
    return RetryPolicy(**{"backoff_ms": 0.0, **fields})


async def publish(redis, base_url, retry, weights=None, models=None, route="bot", revision=1):
    await seed_provider(redis, builders.provider(base_url))
    weights = weights or {"r1": 100}
    models = models or {}
    releases = [ReleaseSpec(id=r, model=builders.model(models.get(r, "sim-chat"))) for r in weights]
    state = builders.state(route, weights, revision=revision, sticky=False)
    state = msgspec.structs.replace(state, retry=retry)
    await seed_route(redis, state, releases)


async def serving(gateway_factory, redis_server, route="bot"):
    """A gateway that already serves the seeded route (its first load is bounded in time, so a
    busy machine could otherwise see a 404 for the first call)."""
    gateway = await gateway_factory(redis_server.url)
    await wait_for(lambda: route in gateway.context.holder.table.routes)
    return gateway


async def post(http, gateway, body=BODY, headers=None):
    async with http.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers=headers
    ) as response:
        return response.status, response.headers, await response.read()


def stats(gateway, release="r1", route="bot"):
    return gateway.context.recorder.stats_for(route, release)


async def test_the_budget_holds_under_a_full_failure_burst(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish(redis, simulator.url, policy(max_retries=3, budget_percent=10))
    simulator.state.behaviours["*"] = Behaviour(status=503)
    gateway = await serving(gateway_factory, redis_server)
    calls = 300
    semaphore = asyncio.Semaphore(30)

    async def one():
        async with semaphore:
            return (await post(http, gateway))[0]

    statuses = await asyncio.gather(*(one() for _ in range(calls)))
    assert statuses == [503] * calls
    upstream = len(simulator.received())
    # without a budget: 4 attempts each (1,200 calls); with it: at most 10% more, plus RESERVE
    assert calls < upstream <= calls + RESERVE + calls // 10
    assert stats(gateway).retries == upstream - calls
    assert gateway.context.holder.table.routes["bot"].budget.exhausted > 0


async def test_a_transient_failure_is_retried_to_success(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish(redis, simulator.url, policy(max_retries=2, budget_percent=100))
    simulator.state.behaviours["*"] = Behaviour(error_every=2, error_status=502)
    gateway = await serving(gateway_factory, redis_server)
    for _ in range(10):
        assert (await post(http, gateway))[0] == 200
    # upstream calls 2, 4, … 18 failed, and each was retried once, successfully
    assert len(simulator.received()) == 19
    assert stats(gateway).outcomes["ok"] == 10 and stats(gateway).retries == 9
    async with http.get(f"{gateway.url}/metrics") as response:
        metrics = await response.text()
    assert 'turnout_upstream_retries_total{release="r1",route="bot"} 9.0' in metrics


async def test_retry_after_is_honoured_up_to_the_cap(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish(redis, simulator.url, policy(retry_after_cap_s=2))
    simulator.state.behaviours["*"] = Behaviour(error_every=2, error_status=429, retry_after_s=1)
    gateway = await serving(gateway_factory, redis_server)
    assert (await post(http, gateway))[0] == 200  # upstream call 1 succeeds
    started = time.perf_counter()
    assert (await post(http, gateway))[0] == 200  # call 2 is a 429 asking for 1 s; 3 succeeds
    assert time.perf_counter() - started >= 1.0
    assert len(simulator.received()) == 3

    # asking for longer than the cap: the 429 goes to the caller at once, Retry-After kept
    await publish(redis, simulator.url, policy(retry_after_cap_s=0.5), revision=2)

    def capped() -> bool:
        retry = gateway.context.holder.table.routes["bot"].snapshot.state.retry
        return retry is not None and retry.retry_after_cap_s == 0.5

    await wait_for(capped)
    started = time.perf_counter()
    status, headers, _ = await post(http, gateway)  # upstream call 4: 429, Retry-After 1
    assert status == 429 and headers["Retry-After"] == "1"
    assert time.perf_counter() - started < 0.5
    assert len(simulator.received()) == 4


async def test_caller_errors_are_not_retried(redis, redis_server, simulator, gateway_factory, http):
    await publish(redis, simulator.url, policy())
    simulator.state.behaviours["*"] = Behaviour(status=400)
    gateway = await serving(gateway_factory, redis_server)
    assert (await post(http, gateway))[0] == 400
    assert len(simulator.received()) == 1 and stats(gateway).retries == 0


async def test_connect_errors_are_retried_with_backoff(redis, redis_server, gateway_factory, http):
    closed = f"http://127.0.0.1:{free_port()}/v1"
    await publish(redis, closed, RetryPolicy(max_retries=2, backoff_ms=100))
    gateway = await serving(gateway_factory, redis_server)
    started = time.perf_counter()
    status, _, body = await post(http, gateway)
    assert status == 502 and b"upstream_connect_failed" in body
    assert stats(gateway).retries == 2
    assert time.perf_counter() - started >= 0.05 + 0.1  # two jittered waits: >= 50% of 100, 200


@pytest.mark.parametrize("stream", [True, False])
async def test_a_failure_after_sending_is_never_retried(
    redis, redis_server, gateway_factory, fault_server, http, stream
):
    mode = "bad-chunk-mid-stream" if stream else "reset"
    await fault_routes(redis, fault_server, [mode])
    route = f"f-{mode}"
    state = msgspec.structs.replace(builders.state(mode, {"r1": 100}), retry=policy())
    release = ReleaseSpec(id="r1", model=builders.model("m", provider_name=route))
    await seed_route(redis, msgspec.structs.replace(state, revision=2), [release])
    gateway = await serving(gateway_factory, redis_server, route=mode)
    body = {**BODY, "model": mode, "stream": stream}
    status, _, answer = await post(http, gateway, body)
    if stream:  # the first event reached the caller, then an error event: never retried
        assert status == 200 and answer.startswith(b'data: {"choices":[]}\n\n')
        assert b"upstream_bad_response" in answer
    else:
        assert status == 502
    assert list(fault_server.requests) == [mode]
    assert stats(gateway, route=mode).retries == 0


async def test_a_failing_canary_falls_back_to_stable_and_keeps_its_failure(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish(
        redis,
        simulator.url,
        policy(max_retries=0, budget_percent=100, fallback=True),
        weights={"r1": 50, "r2": 50},
        models={"r2": "sim-bad"},
    )
    simulator.state.behaviours["sim-bad"] = Behaviour(status=500)
    gateway = await serving(gateway_factory, redis_server)
    fell = 0
    for _ in range(60):
        status, headers, _ = await post(http, gateway)
        assert status == 200 and headers["X-Turnout-Release"] == "r1"
        assert headers["X-Turnout-Model"] == "sim-chat@1"
        if "X-Turnout-Fallback-From" in headers:
            assert headers["X-Turnout-Fallback-From"] == "r2"
            fell += 1
    assert 10 < fell < 50
    assert simulator.state.calls == {"sim-bad": fell, "sim-chat": 60}
    assert stats(gateway, "r2").outcomes["upstream_5xx"] == fell
    assert stats(gateway, "r2").fallbacks == fell
    async with http.get(f"{gateway.url}/metrics") as response:
        metrics = await response.text()
    assert f'turnout_fallbacks_total{{release="r2",route="bot"}} {fell}.0' in metrics
    assert stats(gateway, "r1").outcomes["ok"] == 60

    # a caller who pins the canary gets its failure, not stable's answer
    status, headers, _ = await post(http, gateway, headers={"X-Turnout-Release": "r2"})
    assert status == 500 and headers["X-Turnout-Release"] == "r2"
    assert "X-Turnout-Fallback-From" not in headers


async def test_no_fallback_under_the_kill_switch(
    redis, redis_server, simulator, gateway_factory, http
):
    # The operator killed stable r1 (say it leaks data) and forced r2: a failing r2 must not
    # fall back to r1, whatever the route's fallback policy says.
    retry = policy(max_retries=0, budget_percent=100, fallback=True)
    await publish(redis, simulator.url, retry, {"r1": 100, "r2": 0}, {"r2": "sim-bad"})
    state = builders.state("bot", {"r1": 100, "r2": 0}, revision=2, sticky=False)
    await seed_route(redis, msgspec.structs.replace(state, retry=retry, kill_switch="r2"), [])
    simulator.state.behaviours["sim-bad"] = Behaviour(status=500)
    gateway = await serving(gateway_factory, redis_server)
    for _ in range(20):
        status, headers, _ = await post(http, gateway)
        assert status == 500 and headers["X-Turnout-Release"] == "r2"
        assert "X-Turnout-Fallback-From" not in headers
    assert simulator.state.calls == {"sim-bad": 20}
    assert stats(gateway, "r2").fallbacks == 0


async def test_fallbacks_are_paid_from_the_budget(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish(
        redis,
        simulator.url,
        policy(max_retries=0, budget_percent=0, fallback=True),
        weights={"r1": 0, "r2": 100},
        models={"r2": "sim-bad"},
    )
    simulator.state.behaviours["sim-bad"] = Behaviour(status=503)
    gateway = await serving(gateway_factory, redis_server)
    statuses = [(await post(http, gateway))[0] for _ in range(10)]
    assert statuses == [200] * RESERVE + [503] * (10 - RESERVE)


def test_budget_window_slides():
    budget = RetryBudget()
    for _ in range(100):
        budget.note_call(1000.0)
    assert sum(budget.take(1000.5, 10) for _ in range(20)) == RESERVE + 10
    assert not budget.take(1009.9, 10)  # still inside the 10 s window
    assert budget.take(1010.1, 10)  # the calls and retries of second 1000 have left it
    assert budget.exhausted == 7 + 1


def test_retry_after_forms():
    assert retry_after_s("3", 0.0) == 3.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:05 GMT", 1445412480.0) == 5.0
    assert retry_after_s("soon", 0.0) is None and retry_after_s(None, 0.0) is None
    assert retry_after_ms("1500") == 1.5 and retry_after_ms("-1") is None

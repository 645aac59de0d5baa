"""Per-release telemetry: exact counts in Redis, merged stats, tokens, latency histograms."""

import asyncio
import random
import time

import pytest
import redis.asyncio as aioredis

from control.stats.compute import route_stats
from control.stats.read import bucket_keys, read_buckets, read_distinct_keys
from gateway.contract import telemetry as tk
from gateway.contract.histogram import bucket_index
from gateway.telemetry.recorder import ReleaseStats
from simulator.behaviour import Behaviour
from tests import builders
from tests.conftest import publish_route, wait_for

FAST_FLUSH = {"flush_interval_s": 0.1}


def chat(route="bot", **extra):
    return {"model": route, "messages": [{"role": "user", "content": "count me"}], **extra}


async def stats_of(redis, route="bot", weights=None, releases=None):
    now = int(time.time())
    buckets = await read_buckets(redis, bucket_keys(route, 900, now))
    stats = route_stats(route, "15m", 900, now, buckets, releases or {}, weights or {})
    return {r.release: r for r in stats.releases}


async def send_calls(http, url, count, concurrency=20, **extra):
    """Sends `count` calls; returns what came back: release → {status: count}."""
    seen: dict[str, dict[int, int]] = {}
    semaphore = asyncio.Semaphore(concurrency)

    async def one():
        async with semaphore, http.post(f"{url}/v1/chat/completions", json=chat(**extra)) as r:
            await r.read()
            per = seen.setdefault(r.headers["X-Turnout-Release"], {})
            per[r.status] = per.get(r.status, 0) + 1

    await asyncio.gather(*(one() for _ in range(count)))
    return seen


@pytest.fixture
async def two_releases(redis, simulator):
    releases = [
        builders.release("r1", upstream="sim-a"),
        builders.release("r2", upstream="sim-b"),
    ]
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 50, "r2": 50}, sticky=False), releases
    )
    return releases


async def test_counts_per_release_and_class_are_exact(
    redis, redis_server, simulator, two_releases, gateway_factory, http
):
    simulator.state.behaviours["sim-b"] = Behaviour(error_every=20, error_status=500)
    gateway = await gateway_factory(redis_server.url, **FAST_FLUSH)
    seen = await send_calls(http, gateway.url, 1000)
    assert set(seen) == {"r1", "r2"}
    assert set(seen["r1"]) == {200}
    assert seen["r2"][500] > 0

    async def flushed():
        stats = await stats_of(redis)
        return sum(s.requests for s in stats.values()) == 1000

    await wait_for(flushed, timeout_s=5)
    stats = await stats_of(redis, weights={"r1": 5000, "r2": 5000})
    for release, statuses in seen.items():
        assert stats[release].requests == sum(statuses.values())
        assert stats[release].errors == ({"upstream_5xx": statuses[500]} if 500 in statuses else {})
        assert stats[release].weight_percent == 50
    assert stats["r2"].error_rate == pytest.approx(seen["r2"][500] / sum(seen["r2"].values()))
    total = sum(sum(s.values()) for s in seen.values())
    share = stats["r1"].observed_share_percent
    assert share == pytest.approx(100 * sum(seen["r1"].values()) / total, abs=0.01)


@pytest.mark.slow
async def test_three_gateway_processes_merge_exactly(
    redis, redis_server, two_releases, gateway_processes, http
):
    env = {"TURNOUT_FLUSH_INTERVAL_S": "0.1"}
    gateways = [await gateway_processes(redis_server.url, env=env) for _ in range(3)]
    expected: dict[str, int] = {}
    for count, gateway in zip((120, 80, 100), gateways, strict=True):
        seen = await send_calls(http, gateway.url, count)
        for release, statuses in seen.items():
            expected[release] = expected.get(release, 0) + sum(statuses.values())

    async def merged():
        stats = await stats_of(redis)
        return {r: s.requests for r, s in stats.items() if s.requests} == expected

    await wait_for(merged, timeout_s=5)


async def test_tokens_and_cost_from_bodies_and_streams(
    redis, redis_server, simulator, gateway_factory, http
):
    model = builders.model(input_usd_per_mtok=2.0, output_usd_per_mtok=10.0)
    release = builders.ReleaseSpec(id="r1", model=model)
    await publish_route(redis, simulator, builders.state("bot", {"r1": 100}), [release])
    gateway = await gateway_factory(redis_server.url, **FAST_FLUSH)
    async with http.post(f"{gateway.url}/v1/chat/completions", json=chat()) as response:
        usage = (await response.json())["usage"]
    async with http.post(f"{gateway.url}/v1/chat/completions", json=chat(stream=True)) as response:
        streamed = await response.read()
    # the caller did not ask for usage: the gateway asked for it, and hid the usage event
    assert b'"usage"' not in streamed
    assert streamed.rstrip().endswith(b"data: [DONE]")
    assert simulator.received()[-1].body["stream_options"] == {"include_usage": True}
    async with http.post(
        f"{gateway.url}/v1/chat/completions",
        json=chat(stream=True, stream_options={"include_usage": True}),
    ) as response:
        asked = await response.read()
    assert asked.count(b'"usage"') == 1  # the caller who asked gets it

    tokens_in = 3 * usage["prompt_tokens"]
    tokens_out = 3 * usage["completion_tokens"]

    async def flushed():
        stats = await stats_of(redis, releases={"r1": release})
        return stats.get("r1") is not None and stats["r1"].tokens_in == tokens_in

    await wait_for(flushed, timeout_s=5)
    stats = (await stats_of(redis, releases={"r1": release}))["r1"]
    assert stats.tokens_out == tokens_out
    assert stats.cost_usd == pytest.approx((tokens_in * 2.0 + tokens_out * 10.0) / 1e6)
    assert stats.ttft_ms is not None  # two streamed calls
    async with http.get(f"{gateway.url}/metrics") as response:
        metrics = await response.text()
    assert (
        f'turnout_tokens_total{{direction="input",release="r1",route="bot"}} {tokens_in}.0'
        in metrics
    )
    assert 'turnout_cost_usd_total{release="r1",route="bot"}' in metrics


async def test_latency_quantiles_within_one_bucket(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 100}), [builders.release("r1")]
    )
    # latencies well above the gateway's own time, and little concurrency, so that end-to-end
    # time is the injected time plus well under a bucket's width (20%) even on a loaded machine
    simulator.state.behaviours["*"] = Behaviour(latency_ms=60, latency_jitter_ms=240)
    gateway = await gateway_factory(redis_server.url, **FAST_FLUSH)
    await send_calls(http, gateway.url, 240, concurrency=24)
    injected = sorted(simulator.state.delays_ms)
    assert len(injected) == 240

    async def flushed():
        return (await stats_of(redis)).get("r1") is not None and (
            (await stats_of(redis))["r1"].requests == 240
        )

    await wait_for(flushed, timeout_s=5)
    latency = (await stats_of(redis))["r1"].latency_ms
    assert latency is not None
    for q, reported_ms in ((0.5, latency.p50), (0.95, latency.p95), (0.99, latency.p99)):
        true_ms = injected[min(int(q * len(injected)), len(injected) - 1)]
        distance = abs(bucket_index(reported_ms / 1000) - bucket_index(true_ms / 1000))
        assert distance <= 1, f"p{int(q * 100)}: reported {reported_ms} ms, true {true_ms:.1f} ms"


async def test_redis_outage_loses_nothing(
    persistent_redis_server, simulator, gateway_factory, http
):
    server = persistent_redis_server
    async with aioredis.Redis.from_url(server.url) as client:
        await publish_route(
            client, simulator, builders.state("bot", {"r1": 100}), [builders.release("r1")]
        )
    gateway = await gateway_factory(server.url, **FAST_FLUSH)
    sent = sum((await send_calls(http, gateway.url, 100)).get("r1", {}).values())
    server.stop()
    during = await send_calls(http, gateway.url, 150)
    assert during == {"r1": {200: 150}}  # calls never fail because of Redis
    await asyncio.sleep(0.3)  # flushes fail meanwhile and keep their batch
    server.start()
    sent += 150
    async with aioredis.Redis.from_url(server.url) as client:

        async def flushed():
            stats = await stats_of(client)
            return stats.get("r1") is not None and stats["r1"].requests >= sent

        await wait_for(flushed, timeout_s=10)
        await asyncio.sleep(0.3)  # a retried batch must not be counted twice
        assert (await stats_of(client))["r1"].requests == sent
    assert gateway.context.recorder.dropped == {"call_ids": 0, "sse_events": 0, "sticky_keys": 0}
    async with http.get(f"{gateway.url}/metrics") as response:
        assert 'turnout_telemetry_dropped_total{kind="call_ids"} 0.0' in await response.text()


async def test_distinct_sticky_keys_per_release_reach_a_hyperloglog(
    redis, redis_server, simulator, two_releases, gateway_factory, http
):
    gateway = await gateway_factory(redis_server.url, **FAST_FLUSH)
    served: dict[str, set[str]] = {}
    for index in range(300):
        user = f"user-{index % 120}"  # 120 users, most of them calling more than once
        headers = {"X-Turnout-Sticky-Key": user} if index % 2 else {}
        body = chat() if index % 2 else chat(user=user)
        async with http.post(
            f"{gateway.url}/v1/chat/completions", json=body, headers=headers
        ) as response:
            served.setdefault(response.headers["X-Turnout-Release"], set()).add(user)
    recorder = gateway.context.recorder
    for (_, release), stats in recorder.releases.items():  # a set: bounded by distinct users
        assert stats.keys <= served[release]

    async def counted():
        distinct = await read_distinct_keys(redis, "bot", ["r1", "r2"], 900, int(time.time()))
        # HyperLogLog: 0.81% standard error; a few keys of slack at this size
        counted = all(abs(distinct[r] - len(users)) <= 3 for r, users in served.items())
        # and a flush after the last call took its keys (a repeated user's key can still wait
        # for the next flush when the HyperLogLog already counts it)
        return counted and all(not s.keys for s in recorder.releases.values())

    await wait_for(counted, timeout_s=5)
    assert await redis.ttl(tk.sticky_keys_minute("bot", "r1", int(time.time()) // 60)) > 0


def test_sticky_key_set_is_capped_and_overflow_counted():
    stats = ReleaseStats("bot", "r1")
    for index in range(tk.STICKY_KEYS_PER_FLUSH + 50):
        stats.note_key(f"k{index}")
    stats.note_key("k1")  # already held: not an overflow
    stats.note_key("x" * 10_000)  # a long key is held by its digest
    assert len(stats.keys) == tk.STICKY_KEYS_PER_FLUSH
    assert stats.keys_dropped == 51


def test_random_check_of_bucket_index_monotonic():
    values = sorted(random.Random(5).uniform(0, 300) for _ in range(1000))
    indexes = [bucket_index(v) for v in values]
    assert indexes == sorted(indexes)


@pytest.mark.parametrize("sticky", [True, False])
async def test_calls_placed_by_their_sticky_key_are_counted_apart(
    redis, redis_server, simulator, gateway_factory, http, sticky
):
    """`kn` counts the calls a sticky key placed: on a sticky route the keyed calls (header or
    `user`), never unkeyed or pinned ones (a pinned call's key is not even noted); on a route
    that draws every call at random, none."""
    releases = [
        builders.release("r1", upstream="sim-a"),
        builders.release("r2", upstream="sim-b"),
    ]
    state = builders.state("bot", {"r1": 50, "r2": 50}, sticky=sticky)
    await publish_route(redis, simulator, state, releases)
    gateway = await gateway_factory(redis_server.url, **FAST_FLUSH)
    keyed: dict[str, int] = {"r1": 0, "r2": 0}
    calls: dict[str, int] = {"r1": 0, "r2": 0}
    users: dict[str, set[str]] = {"r1": set(), "r2": set()}
    for index in range(120):
        kind = index % 4  # 0: key header, 1: user field, 2: no key, 3: pinned with a key
        user = f"pinned-{index}" if kind == 3 else f"user-{index % 30}"
        headers = {"X-Turnout-Sticky-Key": user} if kind in (0, 3) else {}
        if kind == 3:
            headers["X-Turnout-Release"] = "r2"
        body = chat(user=user) if kind == 1 else chat()
        async with http.post(
            f"{gateway.url}/v1/chat/completions", json=body, headers=headers
        ) as response:
            assert response.status == 200
            release = response.headers["X-Turnout-Release"]
        calls[release] += 1
        keyed[release] += sticky and kind in (0, 1)
        if kind in (0, 1):
            users[release].add(user)

    async def flushed() -> bool:
        stats = await stats_of(redis)
        return {r: s.requests for r, s in stats.items()} == calls

    await wait_for(flushed, timeout_s=5)
    buckets = await read_buckets(redis, bucket_keys("bot", 900, int(time.time())))
    found = {r: sum(b.get(tk.field(r, tk.KEYED), 0) for b in buckets) for r in calls}
    assert found == keyed
    assert sum(keyed.values()) == (60 if sticky else 0)
    # the pinned calls' own keys never reach the HyperLogLog
    distinct = await read_distinct_keys(redis, "bot", ["r1", "r2"], 900, int(time.time()))
    assert abs(distinct["r2"] - len(users["r2"])) <= 2


def test_bucket_index_puts_a_bound_in_its_own_bucket_and_just_above_in_the_next():
    from gateway.contract.histogram import COUNT, UPPER_BOUNDS_S

    assert bucket_index(0.0) == bucket_index(-1.0) == 0
    for index, bound in enumerate(UPPER_BOUNDS_S):
        assert bucket_index(bound) == index
        assert bucket_index(bound * (1 + 1e-12)) == index + 1
    assert bucket_index(1e9) == COUNT - 1

"""`POST /v1/feedback`: attribution to the serving release, replacement, errors."""

import asyncio
import time

import pytest

from control.stats.compute import route_stats
from control.stats.read import bucket_keys, read_buckets
from tests import builders
from tests.conftest import publish_route


async def stats_of(redis):
    now = int(time.time())
    buckets = await read_buckets(redis, bucket_keys("bot", 900, now))
    return {r.release: r for r in route_stats("bot", "15m", 900, now, buckets, {}, {}).releases}


@pytest.fixture
async def gateway(redis, redis_server, simulator, gateway_factory):
    releases = [builders.release("r1"), builders.release("r2")]
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 50, "r2": 50}, sticky=False), releases
    )
    return await gateway_factory(redis_server.url, flush_interval_s=0.1)


async def make_calls(http, gateway, count):
    calls = {}
    for _ in range(count):
        body = {"model": "bot", "messages": [{"role": "user", "content": "x"}]}
        async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
            assert response.status == 200
            calls[response.headers["X-Turnout-Call-Id"]] = response.headers["X-Turnout-Release"]
    return calls


async def feedback(http, gateway, payload):
    async with http.post(f"{gateway.url}/v1/feedback", json=payload) as response:
        return response.status, await response.json()


async def test_feedback_for_200_calls_is_attributed_and_replaced_without_double_counting(
    redis, gateway, http
):
    calls = await make_calls(http, gateway, 200)
    await asyncio.sleep(0.3)  # most call records are flushed; feedback must work either way
    expected = {"r1": {"up": 0, "down": 0}, "r2": {"up": 0, "down": 0}}
    for index, (call_id, release) in enumerate(calls.items()):
        value = "down" if index % 4 == 0 else "up"
        status, body = await feedback(http, gateway, {"call_id": call_id, "value": value})
        assert status == 202
        assert body["release"] == release and body["replaced"] is False
        expected[release][value] += 1
    # re-post for the first 20 calls: the value changes, the count does not
    for index, (call_id, release) in enumerate(list(calls.items())[:20]):
        old = "down" if index % 4 == 0 else "up"
        new = "up" if old == "down" else "down"
        status, body = await feedback(
            http, gateway, {"call_id": call_id, "value": new, "comment": "changed my mind"}
        )
        assert status == 202 and body["replaced"] is True
        expected[release][old] -= 1
        expected[release][new] += 1
    stats = await stats_of(redis)
    for release, counts in expected.items():
        fb = stats[release].feedback
        assert (fb.up, fb.down) == (counts["up"], counts["down"])
        assert fb.count == sum(1 for r in calls.values() if r == release)
        assert fb.thumbs_down_rate == pytest.approx(
            counts["down"] / (counts["up"] + counts["down"])
        )


async def test_scores_average_per_release(redis, gateway, http):
    calls = await make_calls(http, gateway, 10)
    scores = {}
    for index, call_id in enumerate(calls):
        scores[call_id] = index / 10
        assert (await feedback(http, gateway, {"call_id": call_id, "score": index / 10}))[0] == 202
    stats = await stats_of(redis)
    for release in {"r1", "r2"} & set(calls.values()):
        mine = [scores[c] for c, r in calls.items() if r == release]
        assert stats[release].feedback.scores == len(mine)
        assert stats[release].feedback.mean_score == pytest.approx(sum(mine) / len(mine))
        mean = sum(mine) / len(mine)
        variance = sum((x - mean) ** 2 for x in mine) / (len(mine) - 1)
        assert stats[release].feedback.score_variance == pytest.approx(variance, abs=1e-5)


async def test_feedback_for_a_call_served_by_another_replica(
    redis, redis_server, gateway, gateway_factory, http
):
    """Posted at once to another replica, before the serving one has flushed the call's record:
    the other replica waits for the flush instead of answering 404."""
    serving = await gateway_factory(redis_server.url, flush_interval_s=0.5)
    (call_id, release), *_ = (await make_calls(http, serving, 1)).items()
    status, body = await feedback(http, gateway, {"call_id": call_id, "value": "up"})
    assert status == 202
    assert body["release"] == release


async def test_prometheus_counts_a_replaced_feedback_once(gateway, http):
    (call_id, release), *_ = (await make_calls(http, gateway, 1)).items()
    for value in ("up", "up", "up"):
        assert (await feedback(http, gateway, {"call_id": call_id, "value": value}))[0] == 202
    async with http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    line = f'turnout_feedback_total{{kind="up",release="{release}",route="bot"}} 1.0'
    assert line in text


async def test_unknown_call_id_is_404(gateway, http):
    status, body = await feedback(http, gateway, {"call_id": "call-nope", "value": "up"})
    assert status == 404
    assert body["error"]["code"] == "call_not_found"
    assert "call-nope" in body["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"value": "up"}, "call_id"),
        ({"call_id": "c", "value": "meh"}, "value"),
        ({"call_id": "c", "score": 1.5}, "score"),
        ({"call_id": "c"}, "value"),
        ({"call_id": "c", "value": "up", "extra": 1}, "extra"),
    ],
)
async def test_malformed_feedback_is_400_naming_the_field(gateway, http, payload, named):
    status, body = await feedback(http, gateway, payload)
    assert status == 400
    assert body["error"]["code"] == "invalid_feedback"
    assert named in body["error"]["message"]


async def test_feedback_body_not_json_is_400(gateway, http):
    async with http.post(f"{gateway.url}/v1/feedback", data=b"nope") as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_json"


async def test_well_formed_but_never_issued_call_id_is_404(gateway, http):
    (call_id, _), *_ = (await make_calls(http, gateway, 1)).items()
    process, minute, number = call_id.removeprefix("call-").split("-")
    forged = f"call-{process}-{minute}-{int(number, 16) + 1000:x}"
    status, body = await feedback(http, gateway, {"call_id": forged, "value": "up"})
    assert status == 404
    assert body["error"]["code"] == "call_not_found"


async def test_feedback_right_after_concurrent_calls_finds_each_pending_call(
    redis, redis_server, simulator, gateway_factory, http
):
    """Calls resolved concurrently, feedback posted before any flush: every call is found in
    this process's queue (which must stay in call-number order)."""
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 100}), [builders.release("r1")]
    )
    gateway = await gateway_factory(redis_server.url, flush_interval_s=3600)

    async def call(index):
        body = {"model": "bot", "messages": [{"role": "user", "content": "x" * index}]}
        async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
            return response.headers["X-Turnout-Call-Id"]

    call_ids = await asyncio.gather(*(call(i) for i in range(60)))
    for call_id in call_ids:
        status, body = await feedback(http, gateway, {"call_id": call_id, "value": "up"})
        assert status == 202, body


async def test_feedback_finds_a_call_recorded_in_the_layout_before_blocks(redis, gateway, http):
    """A replica of the previous version wrote one field per call: still attributed."""
    minute = int(time.time()) // 60
    await redis.hset(f"turnout:calls:oldproc:{minute}", f"{42:x}", b'["bot","r2"]')
    call_id = f"call-oldproc-{minute:x}-{42:x}"
    status, body = await feedback(http, gateway, {"call_id": call_id, "value": "down"})
    assert (status, body["release"]) == (202, "r2")


async def test_feedback_for_call_0xb0_of_another_replica_waits_for_its_flush(redis, gateway, http):
    """Call number 0xb0's old-layout field name is "b0", the name of block 0: a block flushed
    before the call was served must not be read as that call's record (it was a 500), the call
    is found once its flush lands."""
    minute = int(time.time()) // 60
    key = f"turnout:calls:otherproc:{minute}"
    block = bytearray(2 * 256)
    block[2 * 1] = 1  # call 1 served by release code 1; call 0xb0 not flushed yet
    await redis.hset(key, mapping={"releases": b'[["bot","r2"]]', "b0": bytes(block)})
    call_id = f"call-otherproc-{minute:x}-{0xB0:x}"

    async def flush_later():
        await asyncio.sleep(0.2)
        block[2 * 0xB0] = 1
        await redis.hset(key, "b0", bytes(block))

    flush = asyncio.create_task(flush_later())
    status, body = await feedback(http, gateway, {"call_id": call_id, "value": "down"})
    await flush
    assert (status, body.get("release")) == (202, "r2"), body


async def test_feedback_for_call_0xb0_never_flushed_is_404(redis, gateway, http):
    minute = int(time.time()) // 60
    block = bytearray(2 * 256)
    block[2 * 1] = 1
    await redis.hset(
        f"turnout:calls:otherproc:{minute}",
        mapping={"releases": b'[["bot","r2"]]', "b0": bytes(block)},
    )
    call_id = f"call-otherproc-{minute:x}-{0xB0:x}"
    status, body = await feedback(http, gateway, {"call_id": call_id, "value": "up"})
    assert (status, body["error"]["code"]) == (404, "call_not_found"), body

"""The gateway keeps serving through bad routing data, vanished callers and stale connections."""

import asyncio

import aiohttp
import msgspec
import pytest

from gateway.contract import keys
from simulator.behaviour import Behaviour
from tests import builders
from tests.conftest import publish_route, wait_for
from tests.seeding import announce, seed_provider, seed_route, write_raw


def chat(**extra):
    return {"model": "bot", "messages": [{"role": "user", "content": "x"}], **extra}


async def test_a_bad_route_version_keeps_the_served_one(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 100}), [builders.release("r1")]
    )
    gateway = await gateway_factory(redis_server.url)
    newer = msgspec.structs.replace(
        builders.state("bot", {"r1": 100}, revision=2), schema_version=99
    )
    await redis.set(keys.route_state("bot"), msgspec.json.encode(newer))
    await announce(redis, "bot", newer.revision)
    garbled = b'{"name": "bot", "revision": 3, "surprise": true}'
    await redis.set(keys.route_state("other"), garbled)
    await redis.sadd(keys.ROUTE_INDEX, "other")

    async def rejected():
        async with http.get(f"{gateway.url}/readyz") as response:
            return "bot" in (await response.json())["rejected"]

    await wait_for(rejected, timeout_s=3)
    async with http.post(f"{gateway.url}/v1/chat/completions", json=chat()) as response:
        assert response.status == 200  # revision 1 is still served
    assert gateway.context.holder.table.routes["bot"].revision == 1
    async with http.get(f"{gateway.url}/metrics") as response:
        assert 'turnout_route_change_rejected{route="bot"} 1.0' in await response.text()

    # a restarted gateway starts despite the bad data and serves what it can
    second = await gateway_factory(redis_server.url)
    async with http.get(f"{second.url}/readyz") as response:
        assert response.status == 200

    # a good version repairs the route (written as a newer writer's script would)
    await write_raw(redis, builders.state("bot", {"r1": 100}, revision=4))
    await wait_for(lambda: gateway.context.holder.table.routes["bot"].revision == 4)
    assert "bot" not in gateway.context.holder.table.rejected


async def test_a_caller_leaving_mid_stream_frees_the_upstream_connection(
    redis, redis_server, simulator, gateway_factory
):
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 100}), [builders.release("r1")]
    )
    simulator.state.behaviours["*"] = Behaviour(stall_ms=3000, stall_after_chunks=1)
    gateway = await gateway_factory(redis_server.url)
    async with aiohttp.ClientSession() as session:
        response = await session.post(f"{gateway.url}/v1/chat/completions", json=chat(stream=True))
        assert (await response.content.readany()).startswith(b"data: ")
        response.close()  # the caller goes away during the stall
    stats = gateway.context.holder.table.routes["bot"].releases["r1"].stats
    await wait_for(lambda: stats.outcomes["client"] == 1, timeout_s=2)
    (pool,) = gateway.context.client._pools.values()
    assert not pool._connections  # aborted, not kept for reuse and not waiting on the stall


async def test_provider_key_variable_may_not_be_a_turnout_secret(
    redis, redis_server, simulator, gateway_factory, http, monkeypatch
):
    monkeypatch.setenv("TURNOUT_API_KEYS", "app:very-secret-token")
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 100}), [builders.release("r1")]
    )
    # the registry refuses such a provider; the gateway must hold too if one gets into Redis
    await write_raw(
        redis, provider=builders.provider(simulator.url, api_key_env="TURNOUT_API_KEYS")
    )
    gateway = await gateway_factory(redis_server.url, api_keys="")
    async with http.post(f"{gateway.url}/v1/chat/completions", json=chat()) as response:
        assert response.status == 502
        message = (await response.json())["error"]["message"]
    assert "TURNOUT_API_KEYS is a Turnout setting" in message
    assert "very-secret-token" not in message
    assert simulator.received() == []


STREAMED = (
    b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
async def test_a_reused_connection_closed_by_the_upstream_is_retried_on_a_fresh_one(
    redis, redis_server, gateway_factory, http, stream
):
    """An upstream that answers the first request of each connection, then closes the
    connection on the next request without a byte (as after its keep-alive timeout). A
    stream sent again keeps what the caller asked for: usage it did not ask for stays hidden."""
    seen = []
    bodies = []
    answer = STREAMED if stream else b'{"choices": []}'
    kind = b"text/event-stream" if stream else b"application/json"

    async def serve(reader, writer):
        first = True
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            bodies.append(await reader.readexactly(length))
            seen.append(first)
            if not first:
                writer.close()
                return
            first = False
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (kind, len(answer), answer)
            )
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await seed_provider(redis, builders.provider(f"http://127.0.0.1:{port}/v1"))
        await seed_route(redis, builders.state("bot", {"r1": 100}), [builders.release("r1")])
        gateway = await gateway_factory(redis_server.url)
        for _ in range(3):
            body = {**chat(), "stream": True} if stream else chat()
            async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
                assert response.status == 200, await response.text()
                text = await response.read()
            if stream:
                assert b"hi" in text and b"[DONE]" in text
                assert b'"usage"' not in text  # not asked for: read, not relayed
        # each call after the first hit a connection the upstream dropped, then a fresh one
        assert seen == [True, False, True, False, True]
        if stream:  # every attempt asked the upstream for usage, once
            assert all(
                msgspec.json.decode(b)["stream_options"] == {"include_usage": True} for b in bodies
            )
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("idle_connection", [False, True], ids=["as a task", "from callbacks"])
async def test_a_caller_leaving_a_buffered_call_frees_the_upstream_connection_at_once(
    redis, redis_server, simulator, gateway_factory, http, idle_connection
):
    """One upstream connection allowed: a caller that gives up on a slow answer must not hold it
    until the upstream answers (2 s here) or times out; the next caller is served at once. With
    an idle upstream connection at hand the slow call is in flight on the lean path (answered
    from the upstream's callbacks), else it runs as a task that opens the connection."""
    await seed_provider(redis, builders.provider(simulator.url, timeout_s=10.0, max_connections=1))
    await seed_route(
        redis, builders.state("slow", {"r1": 100}), [builders.release("r1", upstream="slow-m")]
    )
    await seed_route(
        redis, builders.state("fast", {"r1": 100}), [builders.release("r1", upstream="fast-m")]
    )
    simulator.state.behaviours["slow-m"] = Behaviour(latency_ms=2000)
    gateway = await gateway_factory(redis_server.url)
    url = f"{gateway.url}/v1/chat/completions"
    if idle_connection:
        async with http.post(url, json=chat(model="fast")) as response:
            assert response.status == 200
    sent = len(simulator.received())
    async with aiohttp.ClientSession() as leaving:
        request = asyncio.ensure_future(leaving.post(url, json=chat(model="slow")))
        await wait_for(lambda: len(simulator.received()) == sent + 1)
        request.cancel()  # the caller goes away while the upstream is still thinking
    stats = gateway.context.holder.table.routes["slow"].releases["r1"].stats
    await wait_for(lambda: stats.outcomes["client"] == 1, timeout_s=2)
    started = asyncio.get_running_loop().time()
    async with http.post(url, json=chat(model="fast")) as response:
        assert response.status == 200
    assert asyncio.get_running_loop().time() - started < 1.0
    assert stats.status_classes == {"4xx": 1}  # recorded once, as 499

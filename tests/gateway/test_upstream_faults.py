"""A faulty upstream (the simulator's raw fault server) never desyncs, floods or crashes the
gateway: bad framing is a 502 naming the problem, the connection is closed and nothing of it
reaches the next caller; other calls go on."""

import asyncio

import pytest

from simulator.faults import FRAMING
from tests.conftest import wait_for
from tests.gateway.conftest import fault_routes


def chat(model, **extra):
    return {"model": model, "messages": [{"role": "user", "content": "x"}], **extra}


async def call(http, gateway, model, **extra):
    async with http.post(f"{gateway.url}/v1/chat/completions", json=chat(model, **extra)) as r:
        return r.status, r.headers, await r.json(content_type=None)


@pytest.fixture
async def faulty(redis, redis_server, fault_server, gateway_factory):
    modes = ["ok", "trailing-bytes", "late-bytes", "reset", "hang", *FRAMING]
    await fault_routes(redis, fault_server, modes, timeout_s=1.0, max_connections=4)
    gateway = await gateway_factory(redis_server.url)
    await wait_for(lambda: "ok" in gateway.context.holder.table.routes)
    return gateway


EXPECTED = {
    "bad-status": "bad upstream status line",
    "no-status": "bad upstream status line",
    "negative-length": "bad upstream Content-Length '-5'",
    "bad-length": "bad upstream Content-Length '0x2'",
    "signed-length": "bad upstream Content-Length '+2'",
    "duplicate-length": "duplicate Content-Length",
    "conflicting-length": "duplicate Content-Length",
    "length-and-chunked": "both Content-Length and chunked",
    "bare-cr": "bare CR or LF",
    "bare-lf": "bare CR or LF",
    "space-before-colon": "malformed upstream header line",
    "folded-header": "malformed upstream header line",
    "bad-chunk-size": "bad upstream chunk size",
    "bad-chunk-end": "chunk not followed by CRLF",
    "switching-protocols": "switched protocols",
    "bad-chunk-mid-stream": "bad upstream chunk size",
}


@pytest.mark.parametrize("mode", sorted(FRAMING))
async def test_bad_framing_is_a_502_and_the_next_call_is_clean(faulty, fault_server, http, mode):
    status, _, data = await call(http, faulty, "ok")
    assert status == 200
    status, headers, data = await call(http, faulty, mode)
    assert status == 502, data
    assert data["error"]["code"] == "upstream_bad_response"
    assert EXPECTED[mode] in data["error"]["message"]
    assert headers["X-Turnout-Route"] == mode  # tagged
    # the next call on that origin gets its own answer, on a connection the fault did not touch
    status, _, data = await call(http, faulty, "ok")
    assert status == 200
    assert data["choices"][0]["message"]["content"] == f"answer {len(fault_server.requests)} (ok)"
    recorder = faulty.context.recorder
    assert recorder.upstream_refused == {"upstream_bad_response": 1}
    stats = faulty.context.holder.table.routes[mode].releases["r1"].stats
    assert stats.outcomes["upstream_5xx"] == 1 and stats.status_classes == {"5xx": 1}
    async with http.get(f"{faulty.url}/metrics") as response:
        assert 'turnout_upstream_refused_total{code="upstream_bad_response"} 1.0' in (
            await response.text()
        )


@pytest.mark.parametrize("mode", ["trailing-bytes", "late-bytes"])
async def test_bytes_after_an_answer_never_reach_the_next_caller(faulty, fault_server, http, mode):
    for _ in range(3):
        status, _, data = await call(http, faulty, mode)
        assert status == 200
        assert "poison" not in data
        if mode == "late-bytes":
            await asyncio.sleep(0.15)  # the extra bytes arrive while the connection idles
        status, _, data = await call(http, faulty, "ok")
        assert status == 200, data
        assert "poison" not in data
        assert data["choices"][0]["message"]["content"].endswith("(ok)")
    # each poisoned connection was closed: a new one per faulty answer
    assert fault_server.connections >= 3


async def test_reset_is_a_502_and_hang_a_504(faulty, http):
    status, headers, data = await call(http, faulty, "reset")
    assert status == 502 and data["error"]["code"] == "upstream_connect_failed"
    assert headers["X-Turnout-Route"] == "reset"
    status, _, data = await call(http, faulty, "hang")
    assert status == 504 and data["error"]["code"] == "upstream_timeout"
    status, _, _ = await call(http, faulty, "ok")
    assert status == 200


async def test_an_endless_error_body_to_a_streaming_call_is_capped(
    redis, redis_server, fault_server, gateway_factory, http
):
    await fault_routes(redis, fault_server, ["ok", "endless-error"], timeout_s=5.0)
    gateway = await gateway_factory(redis_server.url, upstream_body_limit_bytes=1024 * 1024)
    await wait_for(lambda: "endless-error" in gateway.context.holder.table.routes)
    status, headers, data = await call(http, gateway, "endless-error", stream=True)
    assert status == 502
    assert data["error"]["code"] == "upstream_body_too_large"
    assert "limit of 1048576 bytes" in data["error"]["message"]
    assert headers["X-Turnout-Route"] == "endless-error"
    (pool,) = gateway.context.client._pools.values()
    assert not pool._connections  # that connection was closed, not kept
    status, _, _ = await call(http, gateway, "ok")
    assert status == 200


def test_the_upstream_body_limit_is_a_validated_setting(monkeypatch):
    from gateway.settings import SettingsError, load_settings

    monkeypatch.setenv("TURNOUT_UPSTREAM_BODY_LIMIT_BYTES", "65536")
    assert load_settings({}).upstream_body_limit_bytes == 65536
    monkeypatch.setenv("TURNOUT_UPSTREAM_BODY_LIMIT_BYTES", "10")
    with pytest.raises(SettingsError, match="upstream_body_limit_bytes"):
        load_settings({})


async def test_bad_framing_in_the_middle_of_a_stream_ends_it_with_an_error_event(faulty, http):
    async with http.post(
        f"{faulty.url}/v1/chat/completions", json=chat("bad-chunk-mid-stream", stream=True)
    ) as response:
        assert response.status == 200
        body = await response.read()
    first, _, error = body.partition(b"\n\n")
    assert first == b'data: {"choices":[]}'
    assert b'"code":"upstream_bad_response"' in error and b"bad upstream chunk size" in error
    assert faulty.context.recorder.upstream_refused == {"upstream_bad_response": 1}
    stats = faulty.context.holder.table.routes["bad-chunk-mid-stream"].releases["r1"].stats
    assert stats.outcomes["upstream_5xx"] == 1
    status, _, _ = await call(http, faulty, "ok")
    assert status == 200

"""The caller side's HTTP/1.1 on raw sockets: keep-alive, pipelining, `Expect`, HTTP/1.0,
chunked bodies, request smuggling refused, limits, the hand-off of other endpoints, slow and
silent callers, shutdown."""

import asyncio

import pytest

from tests import builders
from tests.conftest import publish_route, wait_for
from tests.gateway.conftest import fault_routes
from tests.gateway.test_upstream_limits import memory_kb
from tests.gateway.wire import chat, closed, read_answer, request

SMUGGLED = request("/v1/models", method="GET")  # must never be answered after a refusal


@pytest.fixture
async def gateway(redis, redis_server, simulator, gateway_factory):
    await publish_route(
        redis, simulator, builders.state("wire", {"r1": 100}), [builders.release("r1")]
    )
    return await gateway_factory(redis_server.url, body_limit_bytes=4096)


def content_of(answer):
    return answer.json()["choices"][0]["message"]["content"]


async def test_pipelined_requests_are_answered_in_order_on_one_connection(dial, gateway, simulator):
    reader, writer = await dial(gateway.port)
    writer.write(
        request(body=chat("one"))
        + request("/healthz", method="GET")
        + request(chunks=[chat("two")[:10], chat("two")[10:]])
        + request("/v1/models", method="GET")
        + request("/v1/embeddings", body=b'{"model": "wire", "input": "x"}')
    )
    answers = [await read_answer(reader) for _ in range(5)]
    assert [a.status for a in answers] == [200] * 5
    assert content_of(answers[0]).endswith("echo: one")
    assert answers[1].json() == {"status": "ok"}
    assert content_of(answers[2]).endswith("echo: two")
    assert [m["id"] for m in answers[3].json()["data"]] == ["wire"]
    assert answers[4].json()["object"] == "list"
    assert answers[0].headers["x-turnout-release"] == "r1"
    assert "connection" not in answers[0].headers  # kept alive
    writer.write(request(body=chat("three")))  # and still usable
    assert content_of(await read_answer(reader)).endswith("echo: three")


async def test_expect_100_continue(dial, gateway):
    reader, writer = await dial(gateway.port)
    body = chat("later")
    head = request(body=body, headers=(("Expect", "100-continue"),))[: -len(body)]
    writer.write(head)
    assert (await read_answer(reader)).status == 100
    writer.write(body)
    assert content_of(await read_answer(reader)).endswith("echo: later")
    # a body over the limit is refused before it is sent, and the connection closes
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    refused = await read_answer(reader)
    assert refused.status == 413 and refused.json()["error"]["code"] == "request_too_large"
    assert await closed(reader)


async def test_an_unknown_expectation_is_a_417(dial, gateway):
    reader, writer = await dial(gateway.port)
    writer.write(request(body=chat("x"), headers=(("Expect", "something-else"),)) + SMUGGLED)
    answer = await read_answer(reader)
    assert answer.status == 417 and answer.json()["error"]["code"] == "expectation_failed"
    assert await closed(reader)


async def test_http_1_0_closes_unless_kept_alive(dial, gateway):
    reader, writer = await dial(gateway.port)
    writer.write(request(body=chat("old"), version="1.0"))
    answer = await read_answer(reader)
    assert answer.status == 200 and answer.headers["connection"] == "close"
    assert await closed(reader)
    reader, writer = await dial(gateway.port)
    keep = (("Connection", "keep-alive"),)
    writer.write(request(body=chat("a"), version="1.0", headers=keep))
    assert (await read_answer(reader)).headers["connection"] == "keep-alive"
    writer.write(request(body=chat("b"), version="1.0", headers=keep))
    assert content_of(await read_answer(reader)).endswith("echo: b")


async def test_connection_close_is_the_last_request_answered(dial, gateway):
    reader, writer = await dial(gateway.port)
    writer.write(request(body=chat("last"), headers=(("Connection", "close"),)) + SMUGGLED)
    answer = await read_answer(reader)
    assert answer.status == 200 and answer.headers["connection"] == "close"
    assert await closed(reader)


async def test_a_streamed_answer_is_chunked_and_the_connection_reused(dial, gateway):
    reader, writer = await dial(gateway.port)
    writer.write(request(body=chat("a b c", stream=True)) + request(body=chat("after")))
    streamed = await read_answer(reader)
    assert streamed.status == 200 and streamed.headers["transfer-encoding"] == "chunked"
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.body.count(b"data: ") >= 5 and streamed.body.endswith(b"data: [DONE]\n\n")
    assert b'"usage"' not in streamed.body  # asked for by the gateway, hidden from the caller
    assert content_of(await read_answer(reader)).endswith("echo: after")


# (head lines replacing the framing, body, expected status): each must be refused, answered
# OpenAI-shaped, the connection closed, and nothing after it read or sent upstream.
SMUGGLING = [
    ("Content-Length: 4\r\nTransfer-Encoding: chunked", b"0\r\n\r\n", 400),
    ("Transfer-Encoding: chunked\r\nContent-Length: 4", b"0\r\n\r\n", 400),
    ("Content-Length: 2\r\nContent-Length: 2", b"{}", 400),
    ("Content-Length: 2\r\nContent-Length: 40", b"{}", 400),
    ("Content-Length: 2, 2", b"{}", 400),
    ("Content-Length: +2", b"{}", 400),
    ("Content-Length: -1", b"", 400),
    ("Content-Length: 0x2", b"{}", 400),
    ("Content-Length : 2", b"{}", 400),
    ("X-Folded: a\r\n b\r\nContent-Length: 2", b"{}", 400),  # obs-fold
    ("X-Folded: a\r\n\tb\r\nContent-Length: 2", b"{}", 400),
    ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", b"0\r\n\r\n", 400),
    ("Transfer-Encoding: chunked, gzip", b"0\r\n\r\n", 400),
    ("Transfer-Encoding: identity", b"", 501),
    ("Transfer-Encoding: gzip, chunked", b"0\r\n\r\n", 501),
    ("X-Bad: a\rb\r\nContent-Length: 2", b"{}", 400),
    ("X-Bad: a\x00b\r\nContent-Length: 2", b"{}", 400),
    ("Transfer-Encoding: chunked", b"2\r\n{}XX0\r\n\r\n", 400),
    ("Transfer-Encoding: chunked", b"-2\r\n{}\r\n0\r\n\r\n", 400),
    ("Host: other\r\nContent-Length: 2", b"{}", 400),  # a second Host
]


@pytest.mark.parametrize(("framing", "body", "status"), SMUGGLING)
async def test_ambiguous_framing_is_refused_and_nothing_after_it_is_read(
    dial, gateway, simulator, framing, body, status
):
    reader, writer = await dial(gateway.port)
    raw = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode("latin-1")
        + body
        + SMUGGLED
    )
    writer.write(raw)
    answer = await read_answer(reader)
    assert answer.status == status, answer
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"].startswith("malformed HTTP request: ")
    assert answer.headers["connection"] == "close"
    assert await closed(reader)
    assert simulator.received() == []


async def test_bare_lf_line_ends_are_refused(dial, gateway, simulator):
    reader, writer = await dial(gateway.port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}")
    assert (await read_answer(reader)).status == 400
    assert await closed(reader)


async def test_an_upgrade_body_is_read_as_a_body_never_as_a_request(dial, gateway, simulator):
    """llhttp stops at the head of an Upgrade request; its body (here a request's bytes) is read
    by its Content-Length and the request answered as plain HTTP/1.1."""
    reader, writer = await dial(gateway.port)
    upgrade = (("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"))
    writer.write(request(body=SMUGGLED, headers=upgrade) + request(body=chat("next")))
    first = await read_answer(reader)
    assert first.status == 400 and first.json()["error"]["code"] == "invalid_json"
    assert content_of(await read_answer(reader)).endswith("echo: next")
    writer.write(request(body=chat("up"), headers=upgrade))
    assert content_of(await read_answer(reader)).endswith("echo: up")


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (request(body=chat("x"), headers=tuple((f"X-H{i}", "v") for i in range(128))), 431, None),
        (request(body=chat("x"), headers=(("X-Big", "v" * 70_000),)), 431, None),
        (request("/v1/" + "a" * 9000, body=chat("x")), 414, None),
        (request(body=b"{" + b" " * 5000 + b"}"), 413, "request_too_large"),
        (request(chunks=[b"{" + b" " * 3000, b" " * 3000 + b"}"]), 413, "request_too_large"),
        (request(body=chat("x"), version="2.0"), 505, None),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 405, None),
    ],
)
async def test_limits_are_refused_with_their_status(dial, gateway, simulator, raw, status, code):
    reader, writer = await dial(gateway.port)
    writer.write(raw + SMUGGLED)
    answer = await read_answer(reader)
    assert answer.status == status
    assert answer.json()["error"]["code"] == code or code is None
    assert await closed(reader)
    assert simulator.received() == []


async def test_other_endpoints_keep_aiohttp_s_answers(dial, gateway):
    reader, writer = await dial(gateway.port)
    writer.write(
        request(method="GET")
        + request("/healthz", method="HEAD")
        + request("/nowhere", method="GET")
        + request("/metrics", method="GET")
        + request("/v1/chat/completions?x=1", body=chat("query"))
    )
    not_allowed = await read_answer(reader)
    head = await read_answer(reader, to_head=True)
    missing, metrics, with_query = [await read_answer(reader) for _ in "123"]
    assert not_allowed.status == 405 and not_allowed.headers["allow"] == "POST"
    assert not_allowed.json()["error"]["code"] == "method_not_allowed"
    # a HEAD answer has no body: the next answer follows at once
    assert head.status == 200 and int(head.headers["content-length"]) > 0
    assert missing.status == 404 and missing.json()["error"]["code"] == "not_found"
    assert metrics.status == 200 and b"turnout_requests_total" in metrics.body
    assert content_of(with_query).endswith("echo: query")


async def test_a_caller_trickling_its_head_is_cut_off_and_others_are_served(
    dial, redis, redis_server, simulator, gateway_factory
):
    await publish_route(
        redis, simulator, builders.state("wire", {"r1": 100}), [builders.release("r1")]
    )
    gateway = await gateway_factory(redis_server.url, caller_timeout_s=0.4)
    slow_reader, slow = await dial(gateway.port)
    started = asyncio.get_running_loop().time()
    for byte in b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n":  # never finishes
        slow.write(bytes([byte]))
        await asyncio.sleep(0.01)
        if slow_reader.at_eof() or len(slow_reader._buffer):  # type: ignore[attr-defined]
            break
    answer = await read_answer(slow_reader)
    assert answer.status == 408 and answer.json()["error"]["code"] == "request_timeout"
    assert 0.3 < asyncio.get_running_loop().time() - started < 1.5
    assert await closed(slow_reader)
    reader, writer = await dial(gateway.port)
    writer.write(request(body=chat("fine")))
    assert (await read_answer(reader)).status == 200


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout(
    dial, redis_server, gateway_factory
):
    gateway = await gateway_factory(redis_server.url, keepalive_timeout_s=0.3)
    reader, writer = await dial(gateway.port)
    writer.write(request("/healthz", method="GET"))
    assert (await read_answer(reader)).status == 200
    started = asyncio.get_running_loop().time()
    assert await closed(reader, timeout_s=3)
    assert 0.25 < asyncio.get_running_loop().time() - started < 1.5


async def test_a_call_in_flight_finishes_during_shutdown(
    dial, redis, redis_server, simulator, gateway_factory
):
    from simulator.behaviour import Behaviour

    await publish_route(
        redis,
        simulator,
        builders.state("wire", {"r1": 100}),
        [builders.release("r1", upstream="slow")],
    )
    simulator.state.behaviours["slow"] = Behaviour(latency_ms=300)
    gateway = await gateway_factory(redis_server.url)
    reader, writer = await dial(gateway.port)
    idle_reader, _ = await dial(gateway.port)
    writer.write(request(body=chat("finishing")))
    await wait_for(lambda: len(simulator.received()) == 1)
    stopping = asyncio.ensure_future(gateway.listener.stop(timeout_s=5))
    assert await closed(idle_reader, timeout_s=1)  # an idle connection closes at once
    answer = await read_answer(reader)
    assert answer.status == 200 and answer.headers["connection"] == "close"
    assert content_of(answer).endswith("echo: finishing")
    await stopping
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", gateway.port)


async def test_a_caller_not_reading_its_stream_holds_bounded_memory_then_is_cut_off(
    dial, redis, redis_server, fault_server, gateway_processes
):
    """An endless upstream stream and a caller who never reads: the gateway stops reading the
    upstream once its buffers are full (memory stays bounded), cuts the caller off after the
    caller time-out, and closes the upstream connection."""
    await fault_routes(redis, fault_server, ["endless-chunked", "ok"])
    gateway = await gateway_processes(redis_server.url, env={"TURNOUT_CALLER_TIMEOUT_S": "0.5"})
    reader, writer = await dial(gateway.port)
    writer.write(request(body=chat("x", route="ok")))
    assert (await read_answer(reader)).status == 200  # warm: imports, first allocations
    baseline = memory_kb(gateway.process.pid)
    silent_reader, silent = await dial(gateway.port)
    silent.transport.set_write_buffer_limits(0)  # type: ignore[attr-defined]
    silent.write(request(body=chat("x", route="endless-chunked", stream=True)))
    started = asyncio.get_running_loop().time()
    await asyncio.sleep(1.5)  # the caller reads nothing meanwhile
    after = memory_kb(gateway.process.pid)
    assert after["VmHWM"] - baseline["VmRSS"] < 40 * 1024, (baseline, after)  # measured: 13 MB
    data = b""
    while chunk := await asyncio.wait_for(silent_reader.read(1 << 20), 5):  # cut off: EOF
        data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert asyncio.get_running_loop().time() - started < 5
    await asyncio.sleep(0.2)
    writer.write(request("/metrics", method="GET"))
    metrics = (await read_answer(reader)).body.decode()
    assert (
        'turnout_call_outcomes_total{outcome="client",release="r1",route="endless-chunked"} 1.0'
        in metrics
    )


async def test_a_failure_while_reading_a_request_is_a_clean_500(dial, gateway, monkeypatch):
    from gateway.callers.reading import RequestReader

    def broken(self, url):
        raise RuntimeError("a bug in a parser callback")

    monkeypatch.setattr(RequestReader, "on_url", broken)
    reader, writer = await dial(gateway.port)
    writer.write(request(body=chat("x")))
    answer = await read_answer(reader)
    assert answer.status == 500 and answer.json()["error"]["code"] == "internal_error"
    assert await closed(reader)


async def test_host_is_required_once_and_long_headers_reach_the_other_endpoints(dial, gateway):
    reader, writer = await dial(gateway.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nX-Long: " + b"v" * 20_000 + b"\r\nHost: x\r\n\r\n")
    answer = await read_answer(reader)  # aiohttp's own line limit is 8 KiB: raised to ours
    assert answer.status == 200 and answer.json() == {"status": "ok"}
    writer.write(b"GET /healthz HTTP/1.1\r\nAccept: */*\r\n\r\n" + SMUGGLED)
    refused = await read_answer(reader)
    assert refused.status == 400 and "no Host header" in refused.json()["error"]["message"]
    assert await closed(reader)
    reader, writer = await dial(gateway.port)
    writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs no Host
    assert (await read_answer(reader)).status == 200

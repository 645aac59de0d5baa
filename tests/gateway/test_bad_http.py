"""Malformed HTTP from a caller (refused by the HTTP parser, before any handler) is answered
OpenAI-shaped, and logged as one rate-limited line, never a traceback per request."""

import asyncio
import logging

import orjson
import pytest

MALFORMED = [
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nBad Header\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/chat/completions HTTP/9.9\r\nHost: x\r\n\r\n",
]


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=5)  # the server closes after
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


@pytest.mark.parametrize("raw", MALFORMED)
async def test_malformed_http_is_an_openai_shaped_400(gateway_factory, raw):
    gateway = await gateway_factory(None)
    status, headers, body = await exchange(gateway.port, raw)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "bad_http_request"
    assert error["message"].startswith("malformed HTTP request: ")
    assert "Traceback" not in error["message"]


async def test_a_flood_of_malformed_requests_logs_one_line(gateway_factory, caplog):
    caplog.set_level(logging.DEBUG)
    gateway = await gateway_factory(None)
    for _ in range(20):
        status, _, _ = await exchange(gateway.port, MALFORMED[0])
        assert status == 400
    refused = [
        r for r in caplog.records if r.levelno >= logging.WARNING and "400" in r.getMessage()
    ]
    assert len(refused) == 1, [r.getMessage() for r in refused]
    assert "answered 400" in refused[0].getMessage()
    assert not refused[0].exc_info  # one line, no traceback
    assert not [r for r in caplog.records if r.name == "aiohttp.server"]


async def test_the_gateway_process_answers_malformed_http_the_same_way(
    redis_server, gateway_processes
):
    gateway = await gateway_processes(redis_server.url)
    status, headers, body = await exchange(gateway.port, MALFORMED[0])
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert orjson.loads(body)["error"]["code"] == "bad_http_request"

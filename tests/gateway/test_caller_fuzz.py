"""Fuzzing the caller side's HTTP/1.1 reading against the real gateway on loopback.

Generated pipelines of valid requests (Content-Length and chunked bodies with extensions, other
endpoints, header names in any case) are answered in order, each with its own answer, whatever
the split; one pipeline is split at every byte. Each kind of bad framing, after valid requests,
is answered after them with its status, and nothing after it is read or sent upstream."""

import asyncio
import contextlib

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import builders
from tests.conftest import publish_route
from tests.gateway.test_caller_http import SMUGGLING
from tests.gateway.wire import Answer, chat, read_answer, request, send_in_pieces

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10).filter(
    lambda name: (
        name.strip("-") == name
        and name
        not in ("content-length", "transfer-encoding", "connection", "expect", "upgrade", "host")
    )
)
VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ;=/,.", max_size=16).map(str.strip)
CONTENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=40)


@pytest.fixture
async def gateway(redis, redis_server, simulator, gateway_factory):
    await publish_route(
        redis, simulator, builders.state("wire", {"r1": 100}), [builders.release("r1")]
    )
    return await gateway_factory(redis_server.url)


def with_cased_framing(raw: bytes, upper: bool) -> bytes:
    """Header names are case-insensitive: the framing headers in another case."""
    if not upper:
        return raw
    return raw.replace(b"Content-Length:", b"CONTENT-length:").replace(
        b"Transfer-Encoding:", b"transfer-ENCODING:"
    )


@st.composite
def valid_requests(draw, index: int):
    """(raw request, what its answer must show: ("chat", content) | ("health", None))."""
    kind = draw(st.sampled_from(["length", "chunked", "health"]))
    headers = tuple(draw(st.lists(st.tuples(TOKEN, VALUE), max_size=3)))
    if kind == "health":
        return request("/healthz", method="GET", headers=headers), ("health", None)
    content = f"m{index}x{draw(CONTENT)}"
    body = chat(content)
    if kind == "length":
        raw = request(body=body, headers=headers)
    else:
        cuts = sorted(draw(st.lists(st.integers(1, len(body) - 1), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        extension = draw(st.sampled_from([b"", b";a=b", b";x", b';q="v"']))
        payload = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces if p)
        raw = request(headers=(*headers, ("Transfer-Encoding", "chunked"))) + payload
        raw += b"0\r\n\r\n"
    return with_cased_framing(raw, draw(st.booleans())), ("chat", content)


@st.composite
def pipelines(draw, min_size: int = 1, max_size: int = 4):
    count = draw(st.integers(min_size, max_size))
    return [draw(valid_requests(i)) for i in range(count)]


def check(answer: Answer, expected: tuple[str, str | None]) -> None:
    kind, content = expected
    assert answer.status == 200, answer
    if kind == "health":
        assert answer.json() == {"status": "ok"}
    else:
        text = answer.json()["choices"][0]["message"]["content"]  # type: ignore[index]
        assert text.endswith(f"echo: {content}"), (text, content)


def forwarded_contents(simulator, since: int) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in simulator.received()[since:]]


async def exchange(port: int, raw: bytes, cuts: list[int], answers: int) -> list[Answer]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await send_in_pieces(writer, raw, cuts)
        return [await read_answer(reader) for _ in range(answers)]
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@FUZZ
@given(pipeline=pipelines(), data=st.data())
async def test_valid_pipelines_are_answered_in_order_at_any_split(
    gateway, simulator, pipeline, data
):
    raw = b"".join(r for r, _ in pipeline)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(raw) - 1), max_size=8))))
    since = len(simulator.received())
    answers = await exchange(gateway.port, raw, cuts, len(pipeline))
    for answer, (_, expected) in zip(answers, pipeline, strict=True):
        check(answer, expected)
    chats = [content for (_, (kind, content)) in pipeline if kind == "chat"]
    assert forwarded_contents(simulator, since) == chats


async def test_one_pipeline_split_at_every_byte(gateway, simulator):
    pipeline = [
        (request(body=chat("first")), ("chat", "first")),
        (request(chunks=[chat("second")[:7], chat("second")[7:]]), ("chat", "second")),
        (request("/healthz", method="GET"), ("health", None)),
    ]
    raw = b"".join(r for r, _ in pipeline)
    for cut in range(1, len(raw)):
        answers = await exchange(gateway.port, raw, [cut], len(pipeline))
        for answer, (_, expected) in zip(answers, pipeline, strict=True):
            check(answer, expected)
    assert len(simulator.received()) == 2 * (len(raw) - 1)


@FUZZ
@given(
    prefix=pipelines(min_size=0, max_size=2),
    bad=st.sampled_from(SMUGGLING),
    data=st.data(),
)
async def test_bad_framing_is_answered_after_the_valid_requests_before_it(
    gateway, simulator, prefix, bad, data
):
    framing, body, status = bad
    bad_raw = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode("latin-1")
        + body
    )
    never = request(body=chat("never forwarded"))
    raw = b"".join(r for r, _ in prefix) + bad_raw + never
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(raw) - 1), max_size=6))))
    since = len(simulator.received())
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    try:
        await send_in_pieces(writer, raw, cuts)
        for _, expected in prefix:
            check(await read_answer(reader), expected)
        refused = await read_answer(reader)
        assert refused.status == status, (refused, bad)
        assert orjson.loads(refused.body)["error"]["message"].startswith("malformed HTTP")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing more said
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    chats = [content for (_, (kind, content)) in prefix if kind == "chat"]
    assert forwarded_contents(simulator, since) == chats

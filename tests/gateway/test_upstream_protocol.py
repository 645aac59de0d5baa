"""The HTTP/1.1 client protocol against byte-level answers, split at every possible point."""

import asyncio

import pytest

from gateway.upstream.exchange import Exchange, ProtocolError, UpstreamClosed
from gateway.upstream.http1 import Http1Connection, parse_head


class FakeTransport(asyncio.Transport):
    """Captures writes; the protocol under test is real."""

    def __init__(self):
        super().__init__()
        self.written = b""
        self.aborted = False
        self.paused = False

    def write(self, data):
        self.written += data

    def abort(self):
        self.aborted = True

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False

    def is_closing(self):
        return self.aborted


def connect(streaming=False):
    loop = asyncio.get_running_loop()
    connection = Http1Connection(loop)
    transport = FakeTransport()
    connection.connection_made(transport)
    exchange = Exchange(loop, streaming, connection)
    connection.send(b"POST / HTTP/1.1\r\n\r\n", exchange, 5.0)
    return connection, exchange, transport


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"6\r\ndata: \r\n"
    b"a;ext=1\r\n0123456789\r\n"
    b"0\r\nX-Trailer: t\r\n\r\n"
)


@pytest.mark.parametrize("split", range(1, len(CHUNKED)))
async def test_chunked_body_split_anywhere(split):
    connection, exchange, _ = connect()
    connection.data_received(CHUNKED[:split])
    connection.data_received(CHUNKED[split:])
    head = await exchange.head()
    assert head.status == 200 and head.chunked
    assert await exchange.body() == b"data: 0123456789"
    assert connection.reusable()


async def test_content_length_body_and_keep_alive():
    connection, exchange, _ = connect()
    connection.data_received(
        b"HTTP/1.1 429 Too Many\r\nContent-Length: 5\r\nRetry-After: 2\r\n\r\nhe"
    )
    connection.data_received(b"llo")
    head = await exchange.head()
    assert head.status == 429
    assert head.header("retry-after") == "2"
    assert await exchange.body() == b"hello"
    assert connection.reusable()


async def test_connection_close_is_not_reused():
    connection, exchange, _ = connect()
    connection.data_received(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    assert await exchange.body() == b"ok"
    assert not connection.reusable()


async def test_body_until_close():
    connection, exchange, _ = connect()
    connection.data_received(b"HTTP/1.0 200 OK\r\n\r\npart1 ")
    connection.data_received(b"part2")
    connection.connection_lost(None)
    assert await exchange.body() == b"part1 part2"


async def test_streaming_chunks_arrive_one_by_one():
    connection, exchange, _ = connect(streaming=True)
    connection.data_received(CHUNKED[:90])
    await exchange.head()
    chunks = exchange.chunks()
    first = await chunks.__anext__()
    assert first.startswith(b"data: ")
    connection.data_received(CHUNKED[90:])
    rest = [c async for c in chunks]
    assert first + b"".join(rest) == b"data: 0123456789"


async def test_streaming_back_pressure_pauses_the_socket():
    connection, exchange, transport = connect(streaming=True)
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(100):
        connection.data_received(b"x")
    assert transport.paused
    chunks = exchange.chunks()
    assert await chunks.__anext__() == b"x" * 100  # what arrived together leaves together
    assert transport.paused  # until the consumer has taken it
    connection.data_received(b"y")
    assert await chunks.__anext__() == b"y"
    assert not transport.paused


async def test_closed_before_answer_is_flagged_for_retry():
    connection, exchange, _ = connect()
    connection.connection_lost(ConnectionResetError())
    with pytest.raises(UpstreamClosed) as raised:
        await exchange.head()
    assert raised.value.before_any_byte


async def test_closed_mid_body_is_an_error():
    connection, exchange, _ = connect()
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    connection.connection_lost(None)
    with pytest.raises(UpstreamClosed) as raised:
        await exchange.body()
    assert not raised.value.before_any_byte


async def test_garbage_is_a_protocol_error():
    connection, exchange, transport = connect()
    connection.data_received(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(ProtocolError):
        await exchange.head()
    assert transport.aborted


def test_parse_head_reads_framing():
    head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b")
    assert (head.status, head.content_length, head.chunked, head.keep_alive) == (
        200,
        12,
        False,
        True,
    )
    assert head.headers == [("content-length", "12"), ("x-a", "b")]


ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


async def test_a_reused_connection_times_out_by_its_own_deadline():
    # The timer of the first exchange (5 s) is kept for the next ones on the connection: a
    # later exchange with a shorter time-out must still fail on time, and an answered one never.
    connection, first, transport = connect()
    connection.data_received(ANSWER)
    assert first.finished and first.error is None
    loop = asyncio.get_running_loop()
    second = Exchange(loop, False, connection)
    connection.send(b"POST / HTTP/1.1\r\n\r\n", second, 0.05)
    began = loop.time()
    with pytest.raises(TimeoutError, match=r"within 0\.05 s"):
        await second.body()
    assert loop.time() - began < 1.0 and transport.aborted


async def test_a_timer_left_from_an_answered_exchange_fails_nothing():
    loop = asyncio.get_running_loop()
    connection, first, transport = connect()
    connection._cancel_timer()
    connection._arm(0.02, loop.time() + 0.02)  # as if set for an exchange that ends now
    connection.data_received(ANSWER)
    await asyncio.sleep(0.1)  # the timer fires on an idle connection
    assert first.error is None and not transport.aborted and connection.reusable()
    later = Exchange(loop, False, connection)
    connection.send(b"POST / HTTP/1.1\r\n\r\n", later, 5.0)  # a fresh timer: none is left
    connection.data_received(ANSWER)
    assert await later.body() == b"{}"
    connection._cancel_timer()

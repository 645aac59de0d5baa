"""Fuzzing the upstream HTTP/1.1 parser: generated responses in every framing, fed in random
pieces. Valid ones must parse exactly as h11 (a reference parser) reads them, whatever the split;
each kind of bad framing must fail the exchange and close the connection, whatever the split;
bytes after a response must never leave the connection reusable."""

import asyncio

import h11
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.upstream.exchange import Exchange, ProtocolError
from gateway.upstream.http1 import Http1Connection
from tests.gateway.test_upstream_protocol import FakeTransport

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda name: name not in ("content-length", "transfer-encoding", "connection")
)
VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ;=/,.", max_size=20).map(str.strip)
BODY = st.binary(max_size=300)


@st.composite
def responses(draw):
    """(raw bytes, expected status, headers, body, complete-when-closed)."""
    status = draw(st.sampled_from([200, 201, 400, 404, 429, 500, 503]))
    headers = draw(st.lists(st.tuples(TOKEN, VALUE), max_size=5))
    body = draw(BODY)
    framing = draw(st.sampled_from(["length", "chunked", "until-close"]))
    head = [f"HTTP/1.{0 if framing == 'until-close' else 1} {status} Reason"]
    head += [f"{name}: {value}" for name, value in headers]
    if framing == "length":
        head.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        head.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        extension = draw(st.sampled_from([b"", b";x=1", b";y"]))
        payload = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces if p)
        trailer = draw(st.sampled_from([b"", b"X-Trailer: t\r\n"]))
        payload += b"0\r\n" + trailer + b"\r\n"
    else:
        payload = body
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload
    return raw, status, headers, body, framing == "until-close"


BAD_FRAMINGS = [
    (b"Content-Length: 2\r\nContent-Length: 2", b"{}"),
    (b"Content-Length: 2\r\nContent-Length: 3", b"{}x"),
    (b"Content-Length: -2", b"{}"),
    (b"Content-Length: +2", b"{}"),
    (b"Content-Length: 2 2", b"{}"),
    (b"Content-Length: 0x2", b"{}"),
    (b"Content-Length: 2\r\nTransfer-Encoding: chunked", b"2\r\n{}\r\n0\r\n\r\n"),
    (b"Transfer-Encoding: gzip, chunked", b"2\r\n{}\r\n0\r\n\r\n"),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", b"2\r\n{}\r\n0\r\n\r\n"),
    (b"X-A: a\rb\r\nContent-Length: 2", b"{}"),
    (b"X-A: a\nb\r\nContent-Length: 2", b"{}"),
    (b"X-A : a\r\nContent-Length: 2", b"{}"),
    (b"X-A: a\r\n  folded\r\nContent-Length: 2", b"{}"),
    (b"no colon here\r\nContent-Length: 2", b"{}"),
    (b"Transfer-Encoding: chunked", b"0x2\r\n{}\r\n0\r\n\r\n"),
    (b"Transfer-Encoding: chunked", b"-2\r\n{}\r\n0\r\n\r\n"),
    (b"Transfer-Encoding: chunked", b"2\r\n{}ZZ0\r\n\r\n"),
    (b"Transfer-Encoding: chunked", b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"),
]


def h11_reading(raw):
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="POST", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(raw)
    connection.receive_data(b"")
    response, body = None, b""
    while True:
        event = connection.next_event()
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return response, body


def feed(raw, splits, close_at_end):
    """Our parser over `raw` cut at `splits`: (exchange, connection, transport)."""
    loop = asyncio.new_event_loop()
    try:
        connection = Http1Connection(loop)
        transport = FakeTransport()
        connection.connection_made(transport)
        exchange = Exchange(loop, False, connection)
        connection.send(b"POST / HTTP/1.1\r\n\r\n", exchange, 5.0)
        for start, end in zip([0, *splits], [*splits, len(raw)], strict=True):
            if start < end and not transport.aborted:
                connection.data_received(raw[start:end])
        if close_at_end and not transport.aborted:
            connection.connection_lost(None)
        connection._cancel_timer()
        return exchange, connection, transport
    finally:
        loop.close()


def splits_of(draw_from, raw):
    return sorted(set(draw_from(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=6))))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses(), st.data())
def test_valid_responses_parse_as_h11_reads_them_at_any_split(case, data):
    raw, status, headers, body, until_close = case
    exchange, connection, transport = feed(raw, splits_of(data.draw, raw), until_close)
    assert exchange.error is None and exchange.finished
    head = exchange.response
    assert head is not None
    reference, reference_body = h11_reading(raw)
    assert head.status == reference.status_code == status
    assert bytes(exchange._body) == reference_body == body
    ours = [(n, v) for n, v in head.headers if n not in ("content-length", "transfer-encoding")]
    assert ours == [(n, v) for n, v in headers]
    assert connection.reusable() is (not until_close)
    assert not transport.aborted


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(BAD_FRAMINGS), st.data())
def test_every_bad_framing_fails_and_closes_at_any_split(bad, data):
    headers, payload = bad
    raw = b"HTTP/1.1 200 OK\r\n" + headers + b"\r\n\r\n" + payload
    exchange, connection, transport = feed(raw, splits_of(data.draw, raw), False)
    assert isinstance(exchange.error, ProtocolError), (raw, exchange.error)
    assert transport.aborted and not connection.reusable()


@settings(max_examples=300, deadline=None)
@given(responses(), st.binary(min_size=1, max_size=80), st.data())
def test_bytes_after_a_response_never_leave_the_connection_reusable(case, extra, data):
    raw, _, _, body, until_close = case
    if until_close:  # read-until-close: the extra bytes are body, the connection is not reused
        return
    raw += extra
    exchange, connection, _ = feed(raw, splits_of(data.draw, raw), False)
    assert not connection.reusable()
    if exchange.error is None:
        assert bytes(exchange._body) == body  # the extra bytes are not part of this answer

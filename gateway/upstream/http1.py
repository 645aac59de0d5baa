"""HTTP/1.1 client protocol: writes one request, parses the response head and body framing.

Handles Content-Length, chunked and read-until-close bodies, one exchange at a time per
connection; the pool decides whether the connection is reused. Framing is strict: anything a
proxy could read two ways (negative, signed, duplicate or conflicting Content-Length, a length
beside chunked, a bare CR or LF, whitespace before a colon, a folded header, a malformed chunk)
fails the exchange and closes the connection, so a confused upstream never desyncs the next call.
Bytes after a complete response close the connection too: they are never read as the next answer.

Why hand-written rather than `httptools` (llhttp): the parser is one state machine with the
exchange's flow control (pause/resume per chunk) and body cap inside it, with no second buffer or
callback layer per chunk, and no C dependency to build for every platform. Its strictness is
pinned by tests: byte-level cases for every framing variant, a hypothesis fuzz over split points
and framings checked against h11 as a reference parser, and raw-socket tests against the
simulator's fault server.
"""

import asyncio
import re
from typing import cast

from gateway.upstream.exchange import Exchange, ProtocolError, ResponseHead, UpstreamClosed

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _UNTIL_CLOSE, _IDLE = range(8)
MAX_HEAD_BYTES = 64 * 1024  # the head, or the trailers, of one response
MAX_CHUNK_LINE_BYTES = 4096  # a chunk-size line with its extensions
_CHUNK_SIZE_RE = re.compile(rb"[0-9A-Fa-f]{1,15}")  # 15 hex digits: up to 1 EiB, no sign, no 0x
_VERSIONS = ("HTTP/1.1", "HTTP/1.0")


def parse_head(raw: bytes) -> ResponseHead:
    """The status line and headers (without the blank line that ends them)."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") != crlf or raw.count(b"\n") != crlf:
        raise ProtocolError("bare CR or LF in the upstream response head")
    lines = raw.decode("latin-1").split("\r\n")
    status_line = lines[0]
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if (
        version not in _VERSIONS
        or not (code.isascii() and code.isdigit())
        or rest[3:4] not in ("", " ")
    ):
        raise ProtocolError(f"bad upstream status line {status_line[:60]!r}")
    headers: list[tuple[str, str]] = []
    content_length: int | None = None
    chunked = False
    keep_alive = version == "HTTP/1.1"
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():  # missing colon, folding, space before ":"
            raise ProtocolError(f"malformed upstream header line {line[:60]!r}")
        name = name.lower()
        value = value.strip(" \t")
        if name == "content-length":
            if content_length is not None:
                raise ProtocolError("duplicate Content-Length in the upstream response")
            if not (value.isascii() and value.isdigit()) or len(value) > 18:
                raise ProtocolError(f"bad upstream Content-Length {value[:30]!r}")
            content_length = int(value)
        elif name == "transfer-encoding":
            if chunked or value.lower() != "chunked":
                raise ProtocolError(f"unsupported upstream Transfer-Encoding {value[:30]!r}")
            chunked = True
        elif name == "connection":
            lowered = value.lower()
            if "close" in lowered:
                keep_alive = False
            elif "keep-alive" in lowered:
                keep_alive = True
        headers.append((name, value))
    if chunked and content_length is not None:
        raise ProtocolError("upstream response has both Content-Length and chunked framing")
    return ResponseHead(int(code), headers, content_length, chunked, keep_alive)


class Http1Connection(asyncio.Protocol):
    __slots__ = (
        "_buffer",
        "_deadline",
        "_exchange",
        "_remaining",
        "_state",
        "_timeout_s",
        "_timer",
        "_timer_at",
        "closed",
        "got_bytes",
        "keep_alive",
        "loop",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._exchange: Exchange | None = None
        self._state = _IDLE
        self._remaining = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # loop time the timer fires at
        self._timeout_s = 0.0
        self._deadline = 0.0  # loop time by which the next byte must come (streams)
        self.closed = False
        self.got_bytes = False
        self.keep_alive = False

    # -- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        exchange = self._exchange
        if exchange is None or exchange.finished:
            return
        if self._state == _UNTIL_CLOSE:
            self._finish()
            return
        before = not self.got_bytes
        message = "upstream closed the connection " + (
            "before answering" if before else "in the middle of the response"
        )
        exchange.on_error(UpstreamClosed(message, before_any_byte=before))

    def data_received(self, data: bytes) -> None:
        exchange = self._exchange
        if exchange is None:  # unsolicited bytes: the connection is unusable
            self.abort()
            return
        self.got_bytes = True
        if exchange.streaming:
            self._rearm()
        try:
            self._feed(exchange, data)
        except ProtocolError as error:
            self._fail(error)
            return
        sink = exchange.sink
        if sink is not None and not exchange.finished:
            sink.flush()  # the pieces of one read leave in one write

    # -- used by the pool -----------------------------------------------------------------------
    def send(self, request: bytes, exchange: Exchange, timeout_s: float) -> None:
        assert self.transport is not None
        self._exchange = exchange
        self._state = _HEAD
        self._buffer.clear()
        self.got_bytes = False
        self._timeout_s = timeout_s
        deadline = self._deadline = self.loop.time() + timeout_s
        # A timer still set for an earlier exchange is kept when it fires no later than this
        # deadline: it moves on to the deadline then (`_on_timeout`).
        if self._timer is None or self._timer_at > deadline:
            self._cancel_timer()
            self._arm(timeout_s, deadline)
        self.transport.write(request)

    def pause(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def reusable(self) -> bool:
        return not self.closed and self.keep_alive and self._state == _IDLE

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- parsing ----------------------------------------------------------------------------
    def _feed(self, exchange: Exchange, data: bytes) -> None:
        state = self._state
        if state == _LENGTH:
            remaining = self._remaining
            if len(data) < remaining:
                self._remaining = remaining - len(data)
                exchange.on_data(data)
                return
            if len(data) > remaining:  # bytes past the answer: never the next caller's
                self.keep_alive = False
                data = data[:remaining]
            exchange.on_data(data)
            self._finish()
        elif state == _HEAD:
            self._feed_head(exchange, data)
        elif state == _UNTIL_CLOSE:
            exchange.on_data(data)
        else:
            self._feed_chunked(exchange, data)

    def _feed_head(self, exchange: Exchange, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise ProtocolError("upstream response head too large")
            return
        head = parse_head(bytes(buffer[:end]))
        rest = bytes(buffer[end + 4 :])
        buffer.clear()
        if 100 <= head.status < 200:
            if head.status == 101:
                raise ProtocolError("upstream switched protocols (101) on a plain request")
            if rest:
                self._feed_head(exchange, rest)
            return
        self.keep_alive = head.keep_alive
        if head.content_length is not None and not exchange.streaming:
            exchange.check_length(head.content_length)
        exchange.on_head(head)
        if head.status in (204, 304) or head.content_length == 0:
            if rest:
                self.keep_alive = False
            self._finish()
            return
        if head.chunked:
            self._state = _CHUNK_SIZE
        elif head.content_length is not None:
            self._state = _LENGTH
            self._remaining = head.content_length
        else:
            self._state = _UNTIL_CLOSE
            self.keep_alive = False
        if rest:
            self._feed(exchange, rest)

    def _feed_chunked(self, exchange: Exchange, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while buffer:
            state = self._state
            if state == _CHUNK_DATA:
                take = min(self._remaining, len(buffer))
                exchange.on_data(bytes(buffer[:take]))
                del buffer[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _CHUNK_CRLF
            elif state == _CHUNK_SIZE:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > MAX_CHUNK_LINE_BYTES:
                        raise ProtocolError("upstream chunk-size line too long")
                    return
                size = _chunk_size(bytes(buffer[:end]))
                del buffer[: end + 2]
                if size == 0:
                    self._state = _TRAILERS
                    self._remaining = MAX_HEAD_BYTES  # budget for the trailer lines
                else:
                    self._state = _CHUNK_DATA
                    self._remaining = size
            elif state == _CHUNK_CRLF:
                if len(buffer) < 2:
                    if buffer != b"\r"[: len(buffer)]:
                        raise ProtocolError("upstream chunk not followed by CRLF")
                    return
                if buffer[:2] != b"\r\n":
                    raise ProtocolError("upstream chunk not followed by CRLF")
                del buffer[:2]
                self._state = _CHUNK_SIZE
            elif state == _TRAILERS:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > self._remaining:
                        raise ProtocolError("upstream trailers too large")
                    return
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                self._remaining -= end + 2
                if end == 0:
                    if buffer:  # bytes past the answer: never the next caller's
                        self.keep_alive = False
                        buffer.clear()
                    self._finish()
                    return
                if self._remaining < 0 or b"\r" in line or b"\n" in line or b":" not in line:
                    raise ProtocolError("malformed upstream trailer")
            else:
                return

    def _finish(self) -> None:
        # The timer is left to run (at most one per connection and time-out): cancelling it and
        # starting a new one for the next exchange on this connection cost more per call than
        # the one wake-up it costs when it fires on an idle connection.
        self._state = _IDLE
        exchange = self._exchange
        self._exchange = None
        if exchange is not None:
            exchange.on_end()

    def _fail(self, error: BaseException) -> None:
        exchange = self._exchange
        self._exchange = None
        self.abort()
        if exchange is not None:
            exchange.on_error(error)

    # -- timeouts ---------------------------------------------------------------------------
    def _on_timeout(self) -> None:
        if self._exchange is None:  # idle: the exchange it was set for has ended
            self._timer = None
            return
        left = self._deadline - self.loop.time()
        if left > 0:  # a later exchange, or a stream's bytes, pushed the deadline back
            self._arm(left, self._deadline)
            return
        self._timer = None
        self._fail(TimeoutError(f"upstream did not answer within {self._timeout_s:g} s"))

    def _rearm(self) -> None:
        """A stream's time-out counts from its last bytes. Moving a deadline the timer reads
        when it fires costs one clock read per chunk, not a cancelled and a new timer."""
        self._deadline = self.loop.time() + self._timeout_s

    def _arm(self, delay_s: float, at: float) -> None:
        self._timer = self.loop.call_later(delay_s, self._on_timeout)
        self._timer_at = at

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _chunk_size(line: bytes) -> int:
    size = line.split(b";", 1)[0].rstrip(b" \t")
    if _CHUNK_SIZE_RE.fullmatch(size) is None:
        raise ProtocolError(f"bad upstream chunk size {line[:30]!r}")
    return int(size, 16)

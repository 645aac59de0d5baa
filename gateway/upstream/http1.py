"""HTTP/1.1 client protocol: writes one request, parses the response head and body framing.

Handles Content-Length, chunked and read-until-close bodies. One exchange at a time per
connection; the pool decides whether the connection is reused.
"""

import asyncio
from typing import cast

from gateway.upstream.exchange import Exchange, ResponseHead, UpstreamClosed

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS, _UNTIL_CLOSE, _IDLE = range(8)
MAX_HEAD_BYTES = 64 * 1024


class ProtocolError(ConnectionError):
    """The upstream sent something that is not HTTP/1.1."""


def parse_head(raw: bytes) -> ResponseHead:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"bad upstream status line {lines[0][:60]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ProtocolError(f"bad upstream status {parts[1][:10]!r}") from None
    headers: list[tuple[str, str]] = []
    content_length: int | None = None
    chunked = False
    keep_alive = parts[0] == "HTTP/1.1"
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        value = value.strip()
        if name == "content-length":
            content_length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            lowered = value.lower()
            if "close" in lowered:
                keep_alive = False
            elif "keep-alive" in lowered:
                keep_alive = True
        headers.append((name, value))
    if chunked:
        content_length = None
    return ResponseHead(status, headers, content_length, chunked, keep_alive)


class Http1Connection(asyncio.Protocol):
    __slots__ = (
        "_buffer",
        "_exchange",
        "_remaining",
        "_state",
        "_timeout_s",
        "_timer",
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
        self._timeout_s = 0.0
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
        except (ProtocolError, ValueError) as error:
            self._fail(ProtocolError(str(error)))

    # -- used by the pool -----------------------------------------------------------------------
    def send(self, request: bytes, exchange: Exchange, timeout_s: float) -> None:
        assert self.transport is not None
        self._exchange = exchange
        self._state = _HEAD
        self._buffer.clear()
        self.got_bytes = False
        self._timeout_s = timeout_s
        self._timer = self.loop.call_later(timeout_s, self._on_timeout)
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
        if state == _HEAD:
            self._buffer += data
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise ProtocolError("upstream response head too large")
                return
            head = parse_head(bytes(self._buffer[:end]))
            rest = bytes(self._buffer[end + 4 :])
            self._buffer.clear()
            if 100 <= head.status < 200:
                if rest:
                    self._feed(exchange, rest)
                return
            self.keep_alive = head.keep_alive
            exchange.on_head(head)
            if head.status in (204, 304) or head.content_length == 0:
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
        elif state == _LENGTH:
            if len(data) >= self._remaining:
                exchange.on_data(data[: self._remaining])
                self._finish()
            else:
                self._remaining -= len(data)
                exchange.on_data(data)
        elif state == _UNTIL_CLOSE:
            exchange.on_data(data)
        else:
            self._feed_chunked(exchange, data)

    def _feed_chunked(self, exchange: Exchange, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while buffer:
            state = self._state
            if state == _CHUNK_SIZE:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buffer[:end]).split(b";", 1)[0].strip() or b"x", 16)
                del buffer[: end + 2]
                if size == 0:
                    self._state = _TRAILERS
                else:
                    self._state = _CHUNK_DATA
                    self._remaining = size
            elif state == _CHUNK_DATA:
                take = min(self._remaining, len(buffer))
                exchange.on_data(bytes(buffer[:take]))
                del buffer[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _CHUNK_CRLF
            elif state == _CHUNK_CRLF:
                if len(buffer) < 2:
                    return
                del buffer[:2]
                self._state = _CHUNK_SIZE
            elif state == _TRAILERS:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                del buffer[: end + 2]
                if end == 0:
                    self._finish()
                    return
            else:
                return

    def _finish(self) -> None:
        self._cancel_timer()
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
        self._timer = None
        self._fail(TimeoutError(f"upstream did not answer within {self._timeout_s:g} s"))

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(self._timeout_s, self._on_timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

"""The caller side's protocol, one per caller connection: HTTP/1.1 parsed by llhttp (httptools),
the two hot routes answered by their handlers, every other request handed to the aiohttp
application. Answers go out in request order, one call at a time; pipelined requests are read
ahead up to a bound. Anything llhttp refuses, or a limit exceeded, is answered OpenAI-shaped
(one rate-limited log line) and the connection closes. No upstream or Redis I/O here.
"""

import asyncio
from collections import deque
from typing import cast

import httptools

from gateway.callers.call import Call
from gateway.callers.front import Front, Handler
from gateway.callers.heads import CONTINUE
from gateway.errors import GatewayError
from gateway.intake import too_large

PIPELINE_LIMIT = 8  # complete requests read ahead of the one being answered
MAX_HEADERS = 128
MAX_HEAD_BYTES = 64 * 1024
MAX_TARGET_BYTES = 8 * 1024

# Request headers the gateway acts on, by lower-case name.
_AUTHORIZATION, _CONNECTION, _CONTENT_LENGTH, _EXPECT, _TRANSFER_ENCODING, _TURNOUT = range(6)
_KINDS = {
    b"authorization": _AUTHORIZATION,
    b"connection": _CONNECTION,
    b"content-length": _CONTENT_LENGTH,
    b"expect": _EXPECT,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"x-turnout-release": _TURNOUT,
    b"x-turnout-sticky-key": _TURNOUT,
}
_TURNOUT_NAMES = {
    b"x-turnout-release": "X-Turnout-Release",
    b"x-turnout-sticky-key": "X-Turnout-Sticky-Key",
}
_CODES = {
    400: "bad_http_request",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_too_large",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    501: "unsupported_transfer_encoding",
    505: "http_version_not_supported",
}


def malformed(status: int, reason: str) -> GatewayError:
    return GatewayError(status, f"malformed HTTP request: {reason}", code=_CODES[status])


class _Refused(Exception):
    """Raised in a parser callback to stop reading: `error` is the answer."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


class _Ignored(Exception):
    """Raised in a parser callback for bytes after the last request the connection answers."""


class CallerConnection(asyncio.Protocol):
    __slots__ = (
        "closing",
        "current",
        "front",
        "head_bytes",
        "head_started",
        "in_head",
        "incoming",
        "last_io",
        "lost",
        "parser",
        "queue",
        "reading",
        "reading_paused",
        "task",
        "transport",
        "upgrade_left",
        "upgrading",
        "waiter",
        "writing_paused",
    )

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.incoming: Call | None = None  # being read
        self.in_head = False
        self.head_bytes = 0
        self.head_started = 0.0
        self.upgrading: Call | None = None  # an Upgrade request whose body is read by hand
        self.upgrade_left = 0
        self.queue: deque[Call] = deque()  # read, waiting for their turn
        self.current: Call | None = None  # being answered
        self.task: asyncio.Task[None] | None = None
        self.reading = True  # False once no further request will be answered
        self.reading_paused = False
        self.writing_paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.closing = False
        self.lost = False
        self.last_io = 0.0

    # -- transport events ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.last_io = self.front.loop.time()
        self.front.connections.add(self)
        if self.front.shutting_down:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """The caller left (or the connection was closed): a call still being answered is
        cancelled, so its upstream exchange is abandoned at once."""
        self.lost = True
        self.reading = False
        self.front.forget(self)
        current = self.current
        if self.task is not None and current is not None and not current.answered:
            self.task.cancel()
        self.queue.clear()
        self.incoming = self.upgrading = None
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.last_io = self.front.loop.time()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.last_io = self.front.loop.time()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.current is None:
            self._next()

    def data_received(self, data: bytes) -> None:
        if not self.reading:
            return  # after a refusal or `Connection: close`: nothing more is read
        self.last_io = self.front.loop.time()
        if self.upgrading is not None:
            data = self._upgrade_body(data)
            if not data or not self.reading:
                return
        began = self.incoming if self.in_head else None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._after_upgrade(data[upgrade.args[0] :])
            return
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, _Refused):
                self._refuse(cause.error)
            elif not isinstance(cause, _Ignored):
                raise
            return
        except httptools.HttpParserError as error:
            if self.reading:
                self._refuse(malformed(400, str(error) or "unparsable request"))
            return
        if self.in_head and began is not None and began is self.incoming:
            self.head_bytes += len(data)  # a head spread over several reads
            if self.head_bytes > MAX_HEAD_BYTES:
                self._refuse(malformed(431, f"request head larger than {MAX_HEAD_BYTES} bytes"))

    # -- parser callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if not self.reading:
            raise _Ignored
        self.incoming = Call(self)
        self.in_head = True
        self.head_bytes = 0
        self.head_started = self.last_io

    def on_url(self, url: bytes) -> None:
        call = cast(Call, self.incoming)
        call.target += url
        if len(call.target) > MAX_TARGET_BYTES:
            raise _Refused(malformed(414, f"request target longer than {MAX_TARGET_BYTES} bytes"))

    def on_header(self, name: bytes, value: bytes) -> None:
        call = cast(Call, self.incoming)
        headers = call.headers
        headers.append((name, value))
        if len(headers) > MAX_HEADERS:
            raise _Refused(malformed(431, f"more than {MAX_HEADERS} header lines"))
        lowered = name.lower()
        kind = _KINDS.get(lowered)
        if kind is None:
            return
        if kind == _CONTENT_LENGTH:
            call.length = int(value)  # digits only: llhttp refuses anything else, and duplicates
        elif kind == _AUTHORIZATION:
            if call.authorization is None:
                call.authorization = value
        elif kind == _CONNECTION:
            header = call.connection_header
            call.connection_header = value if header is None else header + b"," + value
        elif kind == _TRANSFER_ENCODING:
            call.transfer_encoding = value
        elif kind == _EXPECT:
            call.expect = value
        else:
            turnout = call.turnout
            if turnout is None:
                turnout = call.turnout = {}
            turnout.setdefault(_TURNOUT_NAMES[lowered], value.decode("utf-8", "surrogateescape"))

    def on_headers_complete(self) -> None:
        call = cast(Call, self.incoming)
        parser = self.parser
        self.in_head = False
        version = parser.get_http_version()
        if version != "1.1":
            if version != "1.0":
                raise _Refused(malformed(505, f"HTTP/{version} is not supported"))
            call.http10 = True
        call.method = parser.get_method()
        call.keep_alive = parser.should_keep_alive()
        if parser.should_upgrade():
            if call.method == b"CONNECT":
                raise _Refused(malformed(405, "CONNECT is not supported"))
            call.upgrade = True
        coding = call.transfer_encoding
        if coding is not None and coding.lower() != b"chunked":
            raise _Refused(malformed(501, "the only Transfer-Encoding accepted is chunked"))
        length = call.length
        limit = self.front.body_limit
        if length is not None and length > limit:
            raise _Refused(too_large(limit))
        if call.expect is not None:
            if call.expect.lower() != b"100-continue":
                raise _Refused(malformed(417, "the only expectation accepted is 100-continue"))
            if length or coding is not None:  # a body will follow once it is asked for
                if self.current is None and not self.queue:
                    self.write(CONTINUE)
                else:
                    call.continue_due = True

    def on_body(self, data: bytes) -> None:
        call = cast(Call, self.incoming)
        size = call.size + len(data)
        limit = self.front.body_limit
        if size > limit:
            raise _Refused(too_large(limit))
        call.size = size
        parts = call.parts
        if parts is not None:
            parts.append(data)
        elif call.body:
            call.parts = [call.body, data]
        else:
            call.body = data

    def on_message_complete(self) -> None:
        call = cast(Call, self.incoming)
        self.incoming = None
        parts = call.parts
        if parts is not None:
            call.body = b"".join(parts)
            call.parts = None
        if call.upgrade and (call.length or call.transfer_encoding is not None):
            # llhttp stops at the head of an Upgrade request: its body is read by hand
            if call.transfer_encoding is not None:
                raise _Refused(malformed(400, "an Upgrade request with a chunked body"))
            self.upgrading = call
            self.upgrade_left = cast(int, call.length)
            return
        self._enqueue(call)

    # -- Upgrade requests: answered as plain HTTP/1.1 ----------------------------------------
    def _after_upgrade(self, rest: bytes) -> None:
        self.parser = httptools.HttpRequestParser(self)  # llhttp stays paused after an upgrade
        if rest and self.reading:
            self.data_received(rest)

    def _upgrade_body(self, data: bytes) -> bytes:
        call = cast(Call, self.upgrading)
        take = data[: self.upgrade_left]
        self.upgrade_left -= len(take)
        call.body += take
        call.size += len(take)
        if self.upgrade_left == 0:
            self.upgrading = None
            self._enqueue(call)
        return data[len(take) :]

    # -- answering in order -------------------------------------------------------------------
    def _enqueue(self, call: Call) -> None:
        if not call.keep_alive:
            self.reading = False  # the last request this connection answers
        if self.current is None and not self.queue and not self.writing_paused:
            self._start(call)
            return
        self.queue.append(call)
        if len(self.queue) >= PIPELINE_LIMIT and not self.reading_paused:
            self.reading_paused = True
            cast(asyncio.Transport, self.transport).pause_reading()

    def _start(self, call: Call) -> None:
        self.current = call
        refusal = call.refusal
        if refusal is not None:
            call.reply_error(refusal)
            self.current = None
            return
        front = self.front
        handler: Handler | None = None
        if call.method == b"POST":
            routes = front.routes
            handler = routes.get(call.target) or routes.get(call.path)
        self.task = front.loop.create_task(self._answer(call, handler or front.handoff))

    async def _answer(self, call: Call, handler: Handler) -> None:
        try:
            await handler(call)
        except Exception:  # noqa: BLE001 - the hot routes' last line: a logged, counted 500
            self._failed(call)
        finally:
            self._done(call)

    def _failed(self, call: Call) -> None:
        context = self.front.context
        context.notices.warn(
            "internal_error",
            "unhandled error serving %s %s",
            call.method.decode("latin-1"),
            call.path.decode("latin-1"),
            exc_info=True,
        )
        if call.started:  # a stream had begun: it cannot be answered twice
            self.abort()
            return
        if not call.tags:  # not recorded against a release: count it here
            context.recorder.reject("internal_error")
        error = GatewayError(
            500, "internal gateway error", type_="server_error", code="internal_error"
        )
        call.reply_error(error, call.tags)

    def _done(self, call: Call) -> None:
        self.current = None
        self.task = None
        if self.lost or self.closing:
            return
        if not call.answered:  # a handler that returned without a complete answer
            self.abort()
            return
        if self.front.shutting_down:
            cast(asyncio.Transport, self.transport).close()
            return
        self.last_io = self.front.loop.time()
        self._next()

    def _next(self) -> None:
        if self.current is not None or self.writing_paused or self.lost or self.closing:
            return
        queue = self.queue
        if queue:
            call = queue.popleft()
            if self.reading_paused and len(queue) < PIPELINE_LIMIT // 2:
                self.reading_paused = False
                cast(asyncio.Transport, self.transport).resume_reading()
            self._start(call)
            return
        incoming = self.incoming
        if incoming is not None and incoming.continue_due:
            incoming.continue_due = False
            self.write(CONTINUE)

    def _refuse(self, error: GatewayError) -> None:
        """Answer `error` once the calls before it are answered, then close."""
        self.reading = False
        self.incoming = self.upgrading = None
        transport = cast(asyncio.Transport, self.transport)
        peer = transport.get_extra_info("peername")
        self.front.context.notices.warn(
            f"http_{error.status}",
            "answered %d to %s: %s",
            error.status,
            peer[0] if isinstance(peer, tuple) else "?",
            error.message,
        )
        call = Call(self)
        call.refusal = error
        call.keep_alive = False
        self._enqueue(call)

    # -- used by calls and the front ----------------------------------------------------------
    @property
    def keeps_alive(self) -> bool:
        return not self.closing and not self.front.shutting_down

    def write(self, data: bytes) -> None:
        if not self.lost:
            cast(asyncio.Transport, self.transport).write(data)

    async def drain(self) -> None:
        """Until the caller has read enough of what was written; raises once it is gone."""
        while self.writing_paused and not self.lost:
            waiter = self.waiter
            if waiter is None or waiter.done():
                waiter = self.waiter = self.front.loop.create_future()
            await waiter
        if self.lost:
            raise ConnectionResetError("the caller went away")

    def close_after_answer(self) -> None:
        self.closing = True
        self.reading = False
        cast(asyncio.Transport, self.transport).close()  # after what is buffered is written

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def shut(self) -> None:
        """Shutdown: an idle connection closes now, a busy one after its answer."""
        self.reading = False
        if self.current is None and not self.queue and self.transport is not None:
            self.transport.close()

    def check(self, now: float) -> None:
        """Called once a second: closes what is idle too long or stalled."""
        if self.lost or self.closing:
            return
        front = self.front
        stalled = now - self.last_io > front.caller_timeout_s
        if self.current is not None or self.queue:
            if self.writing_paused and stalled:  # the caller stopped reading its answer
                self.abort()
            return
        if self.incoming is not None or self.upgrading is not None:
            slow_head = self.in_head and now - self.head_started > front.caller_timeout_s
            if stalled or slow_head:
                self._refuse(
                    GatewayError(
                        408,
                        f"the request was not received within {front.caller_timeout_s:g} s",
                        code="request_timeout",
                    )
                )
            return
        if now - self.last_io > front.keepalive_timeout_s:
            cast(asyncio.Transport, self.transport).close()

"""The caller side's protocol, one per caller connection: requests read by `RequestReader`
(llhttp), the two hot routes answered by their handlers, every other request handed to the
aiohttp application. Answers go out in request order, one call at a time; pipelined requests are
read ahead up to a bound. A refusal (malformed HTTP, a limit) is answered OpenAI-shaped with one
rate-limited log line, then the connection closes. A caller who leaves cancels its call, so its
upstream exchange is abandoned at once. No upstream or Redis I/O here.

A hot route's call starts right here, in the read callback, not in a task: on Python 3.11 a new
task waits its turn behind everything queued in the event loop, and under load that wait was
most of the added latency. The route either answers at once, or leaves a flight that calls
`finished` from the upstream's callback, or returns the coroutine that answers it (the task).
Hand-written, like the parser glue in `reading`: one protocol object per connection, no
framework layer between the socket callbacks and the call.
"""

import asyncio
from typing import cast

from gateway.callers.call import Call
from gateway.callers.front import Front, Pending
from gateway.callers.heads import CONTINUE
from gateway.callers.reading import PIPELINE_LIMIT, RequestReader
from gateway.errors import GatewayError

LINGER_S = 2.0  # input read and dropped after an answer that closes the connection


class CallerConnection(RequestReader):
    __slots__ = (
        "closing",
        "linger_until",
        "lost",
        "reading_paused",
        "task",
        "transport",
        "waiter",
        "writing_paused",
    )

    def __init__(self, front: Front) -> None:
        super().__init__(front)
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.closing = False
        self.linger_until = 0.0
        self.lost = False

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
        if current is not None and not current.answered:
            if self.task is not None:
                self.task.cancel()
            elif current.flight is not None:
                current.flight.abandon()
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
        current = self.current
        if current is None:
            self._next()
        elif current.flight is not None:
            current.flight.resume()

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
        if call.method == b"POST":
            routes = front.routes
            route = routes.get(call.target) or routes.get(call.path)
            if route is not None:
                try:
                    pending = route(call)
                except Exception:  # noqa: BLE001 - the hot routes' last line, as in `_answer`
                    self.failed(call)
                    self.finished(call)
                    return
                if pending is not None:
                    self.follow(call, pending)
                elif call.flight is None:  # answered at once
                    self.finished(call)
                return
        self.follow(call, front.handoff(call))

    def follow(self, call: Call, pending: Pending) -> None:
        """`call` is answered by `pending`, run as a task."""
        self.task = self.front.loop.create_task(self._answer(call, pending))

    async def _answer(self, call: Call, pending: Pending) -> None:
        try:
            await pending
        except Exception:  # noqa: BLE001 - the hot routes' last line: a logged, counted 500
            self.failed(call)
        finally:
            self.finished(call)

    def failed(self, call: Call) -> None:
        """An unexpected error answering `call`: logged, counted, a 500 when nothing was sent."""
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

    def finished(self, call: Call) -> None:
        """`call` is answered (or its caller gone): the next one's turn."""
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
        """Close once what is buffered is written. The caller may still be sending (a refused
        request's body, pipelined requests): a close with unread input would reset the
        connection and could destroy the answer before the caller reads it, so the write side
        shuts first and input is read and dropped until the caller closes or `LINGER_S` ends
        (a lingering close, as nginx does)."""
        self.closing = True
        self.reading = False
        self.linger_until = self.front.loop.time() + LINGER_S
        transport = cast(asyncio.Transport, self.transport)
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

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
        if self.lost:
            return
        if self.closing:
            if now > self.linger_until:
                cast(asyncio.Transport, self.transport).close()
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

"""One request/response exchange on an upstream connection, seen from the handler's side.

The protocol feeds it (head, body chunks, end, error); the handler awaits the head and then either
the whole body or the chunks one by one. Streaming chunks are bounded: past a high-water mark the
protocol stops reading the socket until the handler catches up.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Protocol

HIGH_WATER_CHUNKS = 64
JOIN_BYTES = 64 * 1024  # queued stream chunks are joined up to this size
DEFAULT_BODY_LIMIT_BYTES = 4 * 1024 * 1024


class FlowControl(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Sink(Protocol):
    """Where a stream's pieces go when no coroutine reads them (`gateway.endpoints.leg`)."""

    def piece(self, data: bytes) -> None: ...

    def flush(self) -> None: ...


class UpstreamClosed(ConnectionError):
    """The upstream closed the connection before answering."""

    def __init__(self, message: str, *, before_any_byte: bool) -> None:
        super().__init__(message)
        self.before_any_byte = before_any_byte


class ConnectFailed(ConnectionError):
    """No connection to the upstream: refused, unreachable, timed out, TLS refused, or a proxy
    refused the tunnel. Nothing was sent, so trying again cannot repeat a call; `retryable` is
    False where trying again cannot help (a certificate that does not verify)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ProtocolError(ConnectionError):
    """The upstream sent something that is not strict HTTP/1.1 (the connection is closed)."""


class UpstreamBodyTooLarge(ProtocolError):
    """A buffered (non-streaming) answer grew past the cap: the connection is closed."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"upstream answer is larger than the limit of {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class ResponseHead:
    __slots__ = ("chunked", "content_length", "headers", "keep_alive", "status")

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        content_length: int | None,
        chunked: bool,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.headers = headers  # names lower-cased
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Exchange:
    """Handler-facing state of one exchange. Filled by `Http1Connection`."""

    __slots__ = (
        "_body",
        "_chunks",
        "_end",
        "_flow",
        "_head",
        "_loop",
        "_paused",
        "_wakeup",
        "body_limit",
        "error",
        "finished",
        "on_done",
        "response",
        "sink",
        "streaming",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        streaming: bool,
        flow: FlowControl,
        body_limit: int = DEFAULT_BODY_LIMIT_BYTES,
    ) -> None:
        self.streaming = streaming
        self.body_limit = body_limit  # cap of a buffered body; a stream is bounded by flow control
        self._loop = loop
        # Created only when a coroutine awaits them: a call answered from the protocol's
        # callbacks (the lean path) never does, and two futures per call are measurable there.
        self._head: asyncio.Future[ResponseHead] | None = None
        self._end: asyncio.Future[None] | None = None
        self._body = bytearray()
        self._chunks: deque[bytes] | None = deque() if streaming else None
        self._wakeup: asyncio.Future[None] | None = None
        self._flow = flow
        self._paused = False
        self.finished = False
        self.error: BaseException | None = None
        self.response: ResponseHead | None = None  # the head, once it came
        self.sink: Sink | None = None  # takes a stream's pieces as they come (the lean path)
        self.on_done: Callable[[], None] | None = None  # the pool's release, called once at the end

    # -- fed by the protocol ------------------------------------------------------------------
    def on_head(self, head: ResponseHead) -> None:
        self.response = head
        future = self._head
        if future is not None and not future.done():
            future.set_result(head)

    def check_length(self, content_length: int) -> None:
        if content_length > self.body_limit:
            raise UpstreamBodyTooLarge(self.body_limit)

    def on_data(self, data: bytes) -> None:
        chunks = self._chunks
        if chunks is None:
            body = self._body
            body += data
            if len(body) > self.body_limit:
                body.clear()  # give the memory back now, not when the handler lets go
                raise UpstreamBodyTooLarge(self.body_limit)
            return
        sink = self.sink
        if sink is not None:
            sink.piece(data)
            return
        chunks.append(data)
        if len(chunks) >= HIGH_WATER_CHUNKS and not self._paused:
            self._paused = True
            self._flow.pause()
        self._wake()

    def on_end(self) -> None:
        self.finished = True
        future = self._end
        if future is not None and not future.done():
            future.set_result(None)
        self._wake()
        self._done()

    def on_error(self, error: BaseException) -> None:
        if self.finished:
            return
        self.finished = True
        self.error = error
        for future in (self._head, self._end):
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()  # mark retrieved: the handler may await only one of them
        self._wake()
        self._done()

    def hold(self) -> None:
        """Stop reading the upstream (a sink whose reader lags)."""
        self._flow.pause()

    def release(self) -> None:
        self._flow.resume()

    def abandon(self) -> None:
        """The caller went away: end the exchange now, so the pool closes its connection."""
        self.on_error(ConnectionAbortedError("the caller went away"))

    def _done(self) -> None:
        callback, self.on_done = self.on_done, None
        if callback is not None:
            callback()

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- awaited by the handler ---------------------------------------------------------------
    async def head(self) -> ResponseHead:
        if self.response is not None:
            return self.response
        if self.error is not None:
            raise self.error
        future: asyncio.Future[ResponseHead] = self._loop.create_future()
        self._head = future
        return await future

    def buffered(self) -> bytes:
        """The whole body of a buffered exchange that has ended without error."""
        return bytes(self._body)

    async def body(self) -> bytes:
        if self._chunks is not None:  # a stream answered with an error body: read it whole
            return await self._gather()
        if not self.finished:
            future: asyncio.Future[None] = self._loop.create_future()
            self._end = future
            await future
        elif self.error is not None:
            raise self.error
        return bytes(self._body)

    async def _gather(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > self.body_limit:
                error = UpstreamBodyTooLarge(self.body_limit)
                self.on_error(error)  # ends the exchange: the pool closes the connection
                raise error
            parts.append(chunk)
        return b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives. Pieces that arrived together are yielded together (up to
        `JOIN_BYTES`), so the caller gets one write for them, not one per upstream chunk."""
        loop = self._loop
        chunks = self._chunks
        assert chunks is not None, "chunks() is for streaming exchanges"
        while True:
            while chunks:
                data = chunks.popleft()
                if chunks and len(data) < JOIN_BYTES:
                    parts = [data]
                    size = len(data)
                    while chunks and size < JOIN_BYTES:
                        size += len(chunks[0])
                        parts.append(chunks.popleft())
                    data = b"".join(parts)
                yield data
                if self._paused and len(chunks) < HIGH_WATER_CHUNKS // 2:
                    self._paused = False
                    self._flow.resume()
            if self.error is not None:
                raise self.error
            if self.finished:
                return
            self._wakeup = loop.create_future()
            try:
                await self._wakeup
            finally:
                self._wakeup = None

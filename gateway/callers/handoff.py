"""Every request other than the two hot routes (feedback, models, metrics, health, unknown
paths, other methods) is answered by the gateway's aiohttp application in this process: the
request is re-sent, whole and well-formed, over a socketpair to aiohttp's own server protocol,
and its answer is relayed. aiohttp never sees the caller's bytes, so framing is judged once, by
the caller side's parser. Costs one local round trip; none of these endpoints is on the hot path.

aiohttp closes a channel it finds idle for its keep-alive time-out: a closed channel is dropped
from the idle ones when that happens (and never taken), and a request that met a channel closing
under it, before any byte of answer, is sent again on a new one (aiohttp had not read it).
"""

import asyncio
import socket
from collections import deque
from collections.abc import Callable
from typing import cast

import httptools

from gateway.callers.call import Call

IDLE_CHANNELS = 8  # socketpairs kept open for the next hand-off
# never passed on, either way: hop-by-hop, or re-framed here
_NOT_PASSED = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"expect",
        b"content-length",
        b"date",
        b"server",
    }
)


class _Closed(ConnectionResetError):
    """The channel closed before its answer was complete."""


class _Channel(asyncio.Protocol):
    """The gateway's end of one socketpair: writes a request, parses aiohttp's answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.parts: list[bytes] = []
        self.reusable = True
        self.answered_bytes = False  # some of the current answer came
        self.on_lost: Callable[[_Channel], None] | None = None  # drops it from the idle ones

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self.on_lost is not None:
            self.on_lost(self)
        self._fail(_Closed("the gateway's application closed the hand-off"))

    def data_received(self, data: bytes) -> None:
        self.answered_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.reusable = False
            self._fail(ConnectionError(f"unparsable answer from the application: {error}"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, data: bytes) -> None:
        self.parts.append(data)

    def on_message_complete(self) -> None:
        self.reusable = self.parser.should_keep_alive()
        answer = self.answer
        if answer is not None and not answer.done():
            answer.set_result((self.parser.get_status_code(), self.headers, b"".join(self.parts)))

    def _fail(self, error: Exception) -> None:
        answer = self.answer
        if answer is not None and not answer.done():
            answer.set_exception(error)

    async def exchange(self, request: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        self.headers = []
        self.parts = []
        self.answered_bytes = False
        answer = self.answer = self.loop.create_future()
        cast(asyncio.Transport, self.transport).write(request)
        status, headers, body = await answer
        return status, headers, body

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class Handoff:
    """Answers a call through the aiohttp application (`server` is its protocol factory)."""

    def __init__(
        self, server: Callable[[], asyncio.BaseProtocol], loop: asyncio.AbstractEventLoop
    ) -> None:
        self._server = server
        self._loop = loop
        self._idle: deque[_Channel] = deque()

    async def __call__(self, call: Call) -> None:
        head_only = call.method == b"HEAD"  # asked as GET: aiohttp's answer has a body to skip
        request = _request(call, head_only)
        channel = self._take()
        reused = channel is not None
        if channel is None:
            channel = await self._open()
        try:
            try:
                status, headers, body = await channel.exchange(request)
            except _Closed:
                if not reused or channel.answered_bytes:
                    raise
                channel = await self._open()  # it closed as it was reused: aiohttp read nothing
                status, headers, body = await channel.exchange(request)
        except BaseException:
            channel.close()
            raise
        if channel.reusable and len(self._idle) < IDLE_CHANNELS:
            channel.on_lost = self._forget
            self._idle.append(channel)
        else:
            channel.close()
        lines = b"".join(
            b"%s: %s\r\n" % (name, value)
            for name, value in headers
            if name.lower() not in _NOT_PASSED
        )
        call.reply(status, lines, body, head_only=head_only)

    def _take(self) -> _Channel | None:
        while self._idle:
            channel = self._idle.pop()
            channel.on_lost = None
            if channel.reusable:
                return channel
        return None

    def _forget(self, channel: _Channel) -> None:
        """aiohttp closed an idle channel (its keep-alive time-out)."""
        channel.on_lost = None
        if channel in self._idle:
            self._idle.remove(channel)

    async def _open(self) -> _Channel:
        ours, theirs = socket.socketpair()
        try:
            await self._loop.connect_accepted_socket(self._server, theirs)
            _, channel = await self._loop.create_unix_connection(
                lambda: _Channel(self._loop), sock=ours
            )
        except BaseException:
            ours.close()
            theirs.close()
            raise
        return channel

    def close(self) -> None:
        while self._idle:
            channel = self._idle.pop()
            channel.on_lost = None
            channel.close()


def _request(call: Call, head_only: bool) -> bytes:
    listed = _listed(call.connection_header)
    lines = [
        b"%s: %s\r\n" % (name, value)
        for name, value in call.headers
        if (lowered := name.lower()) not in _NOT_PASSED and lowered not in listed
    ]
    method = b"GET" if head_only else call.method
    return b"".join(
        (
            b"%s %s HTTP/1.1\r\n" % (method, call.target),
            b"" if call.host else b"Host: localhost\r\n",  # HTTP/1.0 may omit it; 1.1 may not
            *lines,
            b"Content-Length: %d\r\n\r\n" % len(call.body),
            call.body,
        )
    )


def _listed(connection_header: bytes | None) -> frozenset[bytes]:
    """Header names the caller's `Connection` header marks as hop-by-hop."""
    if not connection_header:
        return frozenset()
    return frozenset(token.strip().lower() for token in connection_header.split(b","))

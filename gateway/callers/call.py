"""One caller request as read by `gateway.callers.connection`, and the writing of its answer.

An answer is written whole in one `write` (head and body) where it can be; a stream is written
as chunks with the caller's flow control honoured. No parsing and no upstream I/O here.
"""

from typing import TYPE_CHECKING, Protocol

from gateway.callers.heads import (
    CHUNKED,
    CLOSE,
    JSON,
    KEEP_ALIVE,
    STREAM_END,
    status_line,
)
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.callers.connection import CallerConnection


class Flight(Protocol):
    """A call's upstream exchange on the lean path (`gateway.endpoints.leg`)."""

    def abandon(self) -> None: ...

    def resume(self) -> None: ...


class Call:
    """What the caller sent (head fields the gateway acts on, raw headers, whole body) and the
    state of the answer. Filled by the connection's parser callbacks."""

    __slots__ = (
        "answered",
        "authorization",
        "body",
        "connection",
        "connection_header",
        "continue_due",
        "expect",
        "flight",
        "headers",
        "host",
        "http10",
        "keep_alive",
        "length",
        "method",
        "parts",
        "pending",
        "refusal",
        "size",
        "started",
        "tags",
        "target",
        "transfer_encoding",
        "turnout",
        "upgrade",
    )

    def __init__(self, connection: "CallerConnection") -> None:
        self.connection = connection
        self.method = b""
        self.target = b""  # as sent: path and query
        self.headers: list[tuple[bytes, bytes]] = []  # raw, in order
        self.authorization: bytes | None = None
        self.host = False  # a Host header was sent
        self.turnout: dict[str, str] | None = None  # X-Turnout-* request headers, by name
        self.connection_header: bytes | None = None
        self.expect: bytes | None = None
        self.transfer_encoding: bytes | None = None
        self.length: int | None = None  # Content-Length as sent
        self.body = b""
        self.parts: list[bytes] | None = None  # a body that came in more than one piece
        self.size = 0
        self.keep_alive = True
        self.http10 = False
        self.upgrade = False  # sent Connection: upgrade (ignored: answered as HTTP/1.1)
        self.continue_due = False  # `Expect: 100-continue` to be answered when its turn comes
        self.refusal: GatewayError | None = None  # answered as is, then the connection closes
        self.tags = b""  # X-Turnout-* lines once resolved, for an unexpected 500
        self.started = False  # the answer's head is written
        self.answered = False  # the whole answer is written
        self.pending = b""  # a stream's head, written with its first piece when that is ready
        self.flight: Flight | None = None  # an upstream exchange answering it from its callback

    @property
    def path(self) -> bytes:
        return self.target.partition(b"?")[0]

    def header(self, lowered: bytes) -> bytes | None:
        """The first header of that (lower-case) name."""
        for name, value in self.headers:
            if name.lower() == lowered:
                return value
        return None

    # -- answering ----------------------------------------------------------------------------
    def reply(self, status: int, headers: bytes, body: bytes, *, head_only: bool = False) -> None:
        """The whole answer in one write. `headers` are complete lines (each ending CRLF)."""
        connection = self.connection
        keep = self.keep_alive and connection.keeps_alive
        framing = (KEEP_ALIVE if self.http10 else b"") if keep else CLOSE
        connection.write(
            b"".join(
                (
                    status_line(status),
                    connection.front.clock.date_line(),
                    headers,
                    b"Content-Length: %d\r\n" % len(body),
                    framing,
                    b"\r\n",
                    b"" if head_only else body,
                )
            )
        )
        self.started = self.answered = True
        if not keep:
            connection.close_after_answer()

    def reply_error(self, error: GatewayError, tags: bytes = b"") -> None:
        self.reply(error.status, JSON + tags, error.body())

    def open_stream(self, status: int, headers: bytes) -> None:
        """The head of a streamed answer: chunked for HTTP/1.1, until close for HTTP/1.0.

        Written with the first piece when that is already there (one write, not two), else on
        its own at the next turn of the event loop."""
        connection = self.connection
        if self.http10 or not connection.keeps_alive:
            self.keep_alive = False
        framing = CLOSE if self.http10 else CHUNKED if self.keep_alive else CHUNKED + CLOSE
        self.pending = b"".join(
            (status_line(status), connection.front.clock.date_line(), headers, framing, b"\r\n")
        )
        self.started = True
        connection.front.loop.call_soon(self._write_head)

    def _write_head(self) -> None:
        head = self.pending
        if head:
            self.pending = b""
            self.connection.write(head)

    def _framed(self, data: bytes) -> bytes:
        framed = data if self.http10 else b"%x\r\n%s\r\n" % (len(data), data)
        head = self.pending
        if head:
            self.pending = b""
            return head + framed
        return framed

    def send(self, data: bytes) -> None:
        """One piece of a stream (raises when the caller is gone). The sender then awaits
        `connection.drain()` while `connection.writing_paused`."""
        connection = self.connection
        if connection.lost:
            raise ConnectionResetError("the caller went away")
        connection.write(self._framed(data))

    def end_stream(self, data: bytes = b"") -> None:
        """The end of a stream, with its last piece when given (one write)."""
        connection = self.connection
        if connection.lost:
            raise ConnectionResetError("the caller went away")
        last = self._framed(data) if data else self.pending
        self.pending = b""
        connection.write(last if self.http10 else last + STREAM_END)
        self.answered = True
        if not self.keep_alive:
            connection.close_after_answer()

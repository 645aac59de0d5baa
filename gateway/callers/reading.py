"""Reading caller requests: llhttp (httptools) parses, the callbacks here build one `Call` per
request and enforce the limits (head size, header count, target length, body size, versions,
Transfer-Encoding, Expect). A refusal stops reading for good: the connection answers it once the
calls before it are answered, then closes. No writing here but `100 Continue`.
"""

import asyncio
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from gateway.callers.call import Call
from gateway.callers.front import Front
from gateway.callers.heads import CONTINUE
from gateway.errors import GatewayError
from gateway.intake import too_large

if TYPE_CHECKING:
    from gateway.callers.connection import CallerConnection

PIPELINE_LIMIT = 8  # complete requests read ahead of the one being answered
MAX_HEADERS = 128
MAX_HEAD_BYTES = 64 * 1024
MAX_TARGET_BYTES = 8 * 1024

# Request headers the gateway acts on, by lower-case name.
_AUTHORIZATION, _CONNECTION, _CONTENT_LENGTH, _EXPECT, _TRANSFER_ENCODING, _TURNOUT, _HOST = range(
    7
)
_KINDS = {
    b"host": _HOST,
    b"authorization": _AUTHORIZATION,
    b"connection": _CONNECTION,
    b"content-length": _CONTENT_LENGTH,
    b"expect": _EXPECT,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"x-turnout-release": _TURNOUT,
    b"x-turnout-sticky-key": _TURNOUT,
    b"x-turnout-eval": _TURNOUT,
}
_TURNOUT_NAMES = {
    b"x-turnout-release": "X-Turnout-Release",
    b"x-turnout-sticky-key": "X-Turnout-Sticky-Key",
    b"x-turnout-eval": "X-Turnout-Eval",
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


class RequestReader(asyncio.Protocol):
    """The reading half of a caller connection (`CallerConnection` is the answering half)."""

    __slots__ = (
        "current",
        "front",
        "head_bytes",
        "head_size",
        "head_started",
        "in_head",
        "incoming",
        "last_io",
        "parser",
        "queue",
        "reading",
        "upgrade_left",
        "upgrading",
    )

    def __init__(self, front: Front) -> None:
        self.front = front
        self.parser = httptools.HttpRequestParser(self)
        self.incoming: Call | None = None  # being read
        self.in_head = False
        self.head_bytes = 0  # raw bytes of the reads a head spread over (after its first)
        self.head_size = 0  # header names and values so far
        self.head_started = 0.0
        self.upgrading: Call | None = None  # an Upgrade request whose body is read by hand
        self.upgrade_left = 0
        self.queue: deque[Call] = deque()  # read, waiting for their turn
        self.current: Call | None = None  # being answered
        self.reading = True  # False once no further request will be answered
        self.last_io = 0.0

    # -- provided by the answering half -------------------------------------------------------
    def _enqueue(self, call: Call) -> None:
        raise NotImplementedError

    def _refuse(self, error: GatewayError) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

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
            elif not isinstance(cause, _Ignored):  # a bug here: a clean 500, logged
                self.front.context.notices.warn(
                    "internal_error",
                    "unhandled error reading a request",
                    exc_info=cause is not None,
                )
                self._refuse(
                    GatewayError(
                        500, "internal gateway error", type_="server_error", code="internal_error"
                    )
                )
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
        self.incoming = Call(cast("CallerConnection", self))
        self.in_head = True
        self.head_bytes = self.head_size = 0
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
        self.head_size += len(name) + len(value)
        if len(headers) > MAX_HEADERS:
            raise _Refused(malformed(431, f"more than {MAX_HEADERS} header lines"))
        if self.head_size > MAX_HEAD_BYTES:
            raise _Refused(malformed(431, f"request headers larger than {MAX_HEAD_BYTES} bytes"))
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
        elif kind == _HOST:
            if call.host:  # RFC 9112: a request with more than one Host is a 400
                raise _Refused(malformed(400, "more than one Host header"))
            call.host = True
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
        if not call.http10 and not call.host:  # RFC 9112: HTTP/1.1 without Host is a 400
            raise _Refused(malformed(400, "no Host header"))
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

"""Response heads written to callers: status lines and header lines encoded once, the Date line
once per second. Pure apart from reading the clock; no I/O."""

import time
from email.utils import formatdate
from http import HTTPStatus

_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode("latin-1"))
    for status in HTTPStatus
}
JSON = b"Content-Type: application/json\r\n"
CLOSE = b"Connection: close\r\n"
KEEP_ALIVE = b"Connection: keep-alive\r\n"  # said to HTTP/1.0 callers who asked for it
CHUNKED = b"Transfer-Encoding: chunked\r\n"
STREAM_END = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Unknown\r\n" % status


def header_line(name: str, value: str) -> bytes:
    """One header line; a value that could split the head (CR, LF, NUL) is a ValueError."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name} may not contain CR, LF or NUL: {value[:60]!r}")
    return f"{name}: {value}\r\n".encode()


class Clock:
    """The `Date` line, formatted at most once per second."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def date_line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"Date: %s\r\n" % formatdate(now, usegmt=True).encode("latin-1")
        return self._line

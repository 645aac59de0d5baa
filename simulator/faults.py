"""A faulty upstream for tests: a raw asyncio HTTP/1.1 server with connection-level faults.

The fault is chosen per request by its path, `/fault/<mode>[=<bytes>]/...` (a provider's
`base_url` of `http://host:port/fault/<mode>/v1` picks it), so routes of one origin can share a
connection and a test can see whether a bad answer poisoned the next. What aiohttp's server would
refuse to send is written here byte by byte. For tests only; the demo never starts it.
"""

import asyncio
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable

import orjson

POISON = b'{"poison": "bytes after the previous answer"}'
_BLOCK = b"x" * (1024 * 1024)

Write = Callable[[asyncio.StreamWriter, int, int], Awaitable[bool]]


def answer(number: int, mode: str) -> bytes:
    """A complete chat answer whose content says which request it answers."""
    body = orjson.dumps(
        {
            "id": f"chatcmpl-fault-{number}",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"answer {number} ({mode})"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    )
    return _response(body)


def _response(body: bytes, *headers: bytes) -> bytes:
    return b"".join(
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
            *(h + b"\r\n" for h in headers),
            b"Content-Length: %d\r\n\r\n" % len(body),
            body,
        )
    )


# Answers with broken framing: written whole, then the connection is closed.
FRAMING = {
    "bad-status": b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}",
    "no-status": b"\r\n\r\n",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    "bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\n{}",
    "signed-length": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}",
    "duplicate-length": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "conflicting-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}" + POISON
    ),
    "length-and-chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
    ),
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-Note: a\rb\r\nContent-Length: 2\r\n\r\n{}",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\n{}",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
    "folded-header": b"HTTP/1.1 200 OK\r\nX-Note: a\r\n b\r\nContent-Length: 2\r\n\r\n{}",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n",
    "bad-chunk-end": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    "switching-protocols": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
    "bad-chunk-mid-stream": (  # one good SSE event, then a chunk that is not one
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
        b'\r\n16\r\ndata: {"choices":[]}\n\n\r\nzz\r\n'
    ),
}


class FaultServer:
    """Counts connections and requests (by mode) for tests to inspect."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: deque[str] = deque(maxlen=10_000)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, mode: str) -> str:
        return f"{self.url}/fault/{mode}/v1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the gateway closed the connection: that is what most faults are for
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is to be closed."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        mode, size = _mode(head.split(b" ", 2)[1].decode("latin-1"))
        self.requests.append(mode)
        number = len(self.requests)
        if mode in FRAMING:
            writer.write(FRAMING[mode])
            await writer.drain()
            return False
        if mode == "hang":
            await reader.read()  # until the gateway gives up and closes
            return False
        handler = _WRITERS.get(mode)
        if handler is not None:
            return await handler(writer, number, size)
        writer.write(answer(number, mode))
        await writer.drain()
        if mode == "trailing-bytes":  # in the same write as the answer
            writer.write(_response(POISON))
        elif mode == "late-bytes":  # a moment after the answer, while the connection idles
            await asyncio.sleep(0.05)
            writer.write(_response(POISON))
        return True


def _mode(path: str) -> tuple[str, int]:
    parts = path.split("/")
    if len(parts) < 3 or parts[1] != "fault":
        return "ok", 0
    name, _, size = parts[2].partition("=")
    return name, int(size) if size.isdigit() else 0


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:  # linger 0: close() sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _reset_before(writer: asyncio.StreamWriter, number: int, size: int) -> bool:
    _reset(writer)
    return False


async def _endless_chunked(writer: asyncio.StreamWriter, number: int, size: int) -> bool:
    return await _endless(writer, b"200 OK")


async def _endless_error(writer: asyncio.StreamWriter, number: int, size: int) -> bool:
    """An error status with an endless body: read whole by the gateway even for a stream."""
    return await _endless(writer, b"500 Internal Server Error")


async def _endless(writer: asyncio.StreamWriter, status: bytes) -> bool:
    writer.write(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\n" % status)
    writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (len(_BLOCK), _BLOCK)
    while True:  # until the gateway closes the connection (drain raises)
        writer.write(chunk)
        await writer.drain()


async def _huge_body(writer: asyncio.StreamWriter, number: int, size: int) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    writer.write(b"Content-Length: %d\r\n\r\n" % size)
    await _write_bytes(writer, size)
    return True


async def _huge_body_until_close(writer: asyncio.StreamWriter, number: int, size: int) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    await _write_bytes(writer, size)
    return False


async def _write_bytes(writer: asyncio.StreamWriter, size: int) -> None:
    block = memoryview(_BLOCK)
    while size > 0:
        writer.write(block[: min(size, len(block))])
        size -= len(block)
        await writer.drain()


async def _huge_event(writer: asyncio.StreamWriter, number: int, size: int) -> bool:
    """One SSE event of `size` content bytes, then a usage event and [DONE], chunked."""

    def chunk(data: bytes | memoryview) -> None:
        writer.write(b"%x\r\n" % len(data))
        writer.write(data)
        writer.write(b"\r\n")

    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n")
    writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
    chunk(b'data: {"choices":[{"index":0,"delta":{"content":"')
    block = memoryview(_BLOCK)[: 64 * 1024]
    left = size
    while left > 0:
        chunk(block[: min(left, len(block))])
        left -= len(block)
        await writer.drain()
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": size}}
    chunk(b'"},"finish_reason":null}]}\n\n')
    chunk(b"data: " + orjson.dumps(usage) + b"\n\ndata: [DONE]\n\n")
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


_WRITERS: dict[str, Write] = {
    "reset": _reset_before,
    "endless-chunked": _endless_chunked,
    "endless-error": _endless_error,
    "huge-body": _huge_body,
    "huge-body-until-close": _huge_body_until_close,
    "huge-event": _huge_event,
}

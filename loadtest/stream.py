"""Time to the first streamed event: sequential SSE calls over one keep-alive connection.

Measured from the moment the request is written to the moment the first `data:` bytes arrive,
with a raw socket so the client adds as little as possible.
"""

import socket
import statistics
import time
from dataclasses import dataclass

import orjson

_END = b"0\r\n\r\n"  # last chunk of a chunked body
_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FirstEventTimes:
    samples_ms: list[float]
    errors: int

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else float("nan")

    @property
    def p99_ms(self) -> float:
        return self.quantile_ms(0.99)


def stream_request(port: int, model: str) -> bytes:
    body = orjson.dumps(
        {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _one(sock: socket.socket, request: bytes) -> float:
    """Seconds to the first event; reads the stream to its end so the connection is reusable."""
    started = time.perf_counter()
    sock.sendall(request)
    received = b""
    first: float | None = None
    while True:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed mid-stream")
        received += data
        if first is None and b"data:" in received:
            first = time.perf_counter() - started
        if received.endswith(_END):
            break
    status_line = received.split(b"\r\n", 1)[0]
    if status_line.split(b" ")[1:2] != [b"200"] or first is None:
        raise ConnectionError(f"bad stream answer: {status_line[:60]!r}")
    return first


def measure(port: int, model: str, count: int, warmup: int = 20) -> FirstEventTimes:
    request = stream_request(port, model)
    samples: list[float] = []
    errors = 0
    sock: socket.socket | None = None
    for index in range(warmup + count):
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=_TIMEOUT_S)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            elapsed = _one(sock, request)
        except OSError:
            errors += index >= warmup
            if sock is not None:
                sock.close()
            sock = None
            continue
        if index >= warmup:
            samples.append(elapsed * 1000)
    if sock is not None:
        sock.close()
    return FirstEventTimes(samples, errors)

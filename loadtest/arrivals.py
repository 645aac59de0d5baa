"""`python -m loadtest.arrivals`: how wrk's paced connections arrive at a server.

Drives a stub server (answers every request with a canned 200, ~5 µs each) with the benchmark's
half-saturation pacing and records when each request arrived. wrk's timers have millisecond
resolution: a connection's think time ends on a millisecond, and every connection due then sends
in the same pass of wrk's loop. A server with one event loop works through such a burst in turn,
so a request waits behind about half of it; this prints how large the bursts are.
"""

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop

from loadtest import wrk
from loadtest.procs import free_port
from loadtest.stack import REQUEST_BODY

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"
BURST_GAP_NS = 25_000  # arrivals closer than this belong to one burst


@dataclass(frozen=True)
class Bursts:
    arrivals: int
    rate: float  # arrivals per second
    close_share: float  # share of arrivals within 10 µs of the one before
    burst_p50: int  # the size of the burst a request arrives in, median over requests
    burst_p90: int

    def text(self) -> str:
        return (
            f"{self.arrivals:,} arrivals at {self.rate:,.0f}/s; "
            f"{self.close_share:.0%} within 10 µs of the one before; a request arrives in a "
            f"burst of {self.burst_p50} (median; p90 {self.burst_p90}) "
            f"(arrivals < {BURST_GAP_NS // 1000} µs apart)"
        )


def bursts(stamps_ns: list[int]) -> Bursts:
    """Burst statistics of sorted arrival times (ns); needs at least two."""
    if len(stamps_ns) < 2:
        raise ValueError("need at least two arrivals")
    gaps = [b - a for a, b in itertools.pairwise(stamps_ns)]
    sizes: list[int] = []
    size = 1
    for gap in gaps:
        if gap < BURST_GAP_NS:
            size += 1
        else:
            sizes.append(size)
            size = 1
    sizes.append(size)
    per_request = sorted(s for s in sizes for _ in range(s))  # each request sees its burst
    span_s = (stamps_ns[-1] - stamps_ns[0]) / 1e9
    return Bursts(
        arrivals=len(stamps_ns),
        rate=len(stamps_ns) / span_s if span_s else 0.0,
        close_share=sum(gap < 10_000 for gap in gaps) / len(gaps),
        burst_p50=int(statistics.median_low(per_request)),
        burst_p90=per_request[int(len(per_request) * 0.9)],
    )


class _Stub(asyncio.Protocol):
    def __init__(self, stamps: list[int]) -> None:
        self.stamps = stamps
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.stamps.append(time.monotonic_ns())
        if self.transport is not None:
            self.transport.write(_ANSWER)


async def measure(rate: float, connections: int, duration_s: float, load_cpu: int) -> Bursts:
    stamps: list[int] = []
    loop = asyncio.get_running_loop()
    port = free_port()
    server = await loop.create_server(lambda: _Stub(stamps), "127.0.0.1", port)
    try:
        with tempfile.TemporaryDirectory(prefix="turnout-arrivals-") as workdir:
            await asyncio.to_thread(
                wrk.run,
                f"http://127.0.0.1:{port}/v1/chat/completions",
                connections=connections,
                duration_s=duration_s,
                cpu=load_cpu,
                body=REQUEST_BODY,
                workdir=Path(workdir),
                pacing=wrk.Pacing.for_rate(rate, connections),
            )
    finally:
        server.close()
    return bursts(stamps[len(stamps) // 5 :])  # the first fifth: connections still starting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.arrivals", description=__doc__)
    parser.add_argument("--rate", type=float, default=13245.0, help="req/s offered")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--sut-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {args.sut_cpu})
    result = uvloop.run(measure(args.rate, args.connections, args.duration, args.load_cpu))
    print(result.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

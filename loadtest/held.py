"""Many streamed calls held open at once through one target (the upstream streams slowly), to
see what each open stream costs in memory: every stream must get its head and first event while
all are open, and finish with its end.
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from loadtest.stream import stream_request

_END = b"0\r\n\r\n"


@dataclass(frozen=True)
class HeldStreams:
    count: int
    completed: int  # streams read to their end with a 200
    errors: int
    open_rss_kib: int  # the target's RSS while all were open
    seconds: float


class _Opening:
    """Counts streams that got their first event (or failed before it)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.all_seen = asyncio.Event()  # every stream is open (or has failed)
        self.release = asyncio.Event()  # the open streams may be read to their end

    def one(self) -> None:
        self.seen += 1
        if self.seen == self.count:
            self.all_seen.set()


async def _one(port: int, request: bytes, opening: _Opening) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    counted = False
    try:
        writer.write(request)
        received = b""
        while b"data:" not in received:
            data = await reader.read(65536)
            if not data:
                return False
            received += data
        opening.one()
        counted = True
        await opening.release.wait()  # hold until every stream is open
        while not received.endswith(_END):
            data = await reader.read(65536)
            if not data:
                return False
            received += data
        return received.startswith(b"HTTP/1.1 200")
    finally:
        if not counted:
            opening.one()
        writer.close()


async def _hold(
    port: int, route: str, count: int, rss_kib: Callable[[], int], timeout_s: float
) -> HeldStreams:
    loop = asyncio.get_running_loop()
    started = loop.time()
    request = stream_request(port, route)
    opening = _Opening(count)
    tasks = [asyncio.create_task(_one(port, request, opening)) for _ in range(count)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(opening.all_seen.wait(), timeout_s)
    open_rss = rss_kib()
    opening.release.set()
    remaining = max(1.0, started + timeout_s - loop.time())
    done, pending = await asyncio.wait(tasks, timeout=remaining)
    for task in pending:
        task.cancel()
    completed = sum(1 for t in done if t.exception() is None and t.result())
    return HeldStreams(count, completed, count - completed, open_rss, loop.time() - started)


def hold(
    port: int, route: str, count: int, rss_kib: Callable[[], int], timeout_s: float = 60.0
) -> HeldStreams:
    """`count` streams through the target at once; `rss_kib` is read while all are open."""
    return asyncio.run(_hold(port, route, count, rss_kib, timeout_s))

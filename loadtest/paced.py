"""Paced background traffic while a block runs: a few threads each calling `send(n)` on a fixed
schedule, so that all together make about `rate` calls per second. Shared by the dashboards'
screenshot tool and their browser tests, which need modest live traffic, not a load test
(`loadtest.rehearsal` is the open-loop generator for that)."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def paced(rate: float, send: Callable[[int], None], threads: int = 2) -> Iterator[None]:
    """Call `send(n)` for n = 0, 1, 2, … at about `rate` per second until the block ends.

    A call that fails with OSError (the gateway restarting, a refused connection) is skipped;
    its slot in the schedule still passes, so a stall never turns into a burst."""
    stop = threading.Event()

    def run(offset: int) -> None:
        sent, began = 0, time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(OSError):
                send(sent * threads + offset)
            sent += 1
            time.sleep(max(0.0, began + sent * threads / rate - time.monotonic()))

    workers = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=5)

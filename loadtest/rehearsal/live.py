"""The run's live view: a progress bar over the load's duration and one summary line (offered vs
achieved rate, errors, lost calls, the generator's lateness, current weights, controller state).
On a terminal it redraws with rich; otherwise it prints the line every few seconds.
"""

import asyncio
import contextlib
import sys
from collections import deque

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from loadtest.rehearsal.generator import Generator
from loadtest.rehearsal.watch import RouteWatch

_WINDOW_S = 2.0  # rates over the last seconds
_PLAIN_EVERY_S = 5.0
_TICK_S = 0.5


class Summary:
    def __init__(self, generator: Generator, route_watch: RouteWatch) -> None:
        self.generator = generator
        self.route_watch = route_watch
        self.samples: deque[tuple[float, int, int]] = deque(maxlen=64)

    def sample(self) -> None:
        gen = self.generator
        self.samples.append((gen.now(), gen.fired, gen.answered))

    def line(self) -> str:
        gen = self.generator
        self.sample()
        now = self.samples[-1][0]
        earlier = list(self.samples)[:-1]
        recent = [s for s in earlier if now - s[0] <= _WINDOW_S]
        old = (recent or earlier[-1:] or [self.samples[-1]])[0]
        span = max(now - old[0], 1e-9)
        offered = (gen.fired - old[1]) / span if now > old[0] else 0.0
        achieved = (gen.answered - old[2]) / span if now > old[0] else 0.0
        lags = gen.log.lag_s[max(gen.fired - 2000, 0) : gen.fired]
        lags = lags[~np.isnan(lags)]
        lag = f"{np.percentile(lags, 99) * 1000:.1f} ms" if lags.size else "-"
        errors = gen.failed / gen.answered if gen.answered else 0.0
        lost = int((gen.log.outcome[: gen.fired] >= 2).sum())
        parts = [
            f"offered {offered:,.0f}/s",
            f"achieved {achieved:,.0f}/s",
            f"errors {errors:.1%}",
            f"lost {lost}",
            f"in flight {gen.in_flight}",
            f"lag p99 {lag}",
        ]
        route = self.route_watch.latest
        if route is not None:
            weights = " ".join(f"{r}={w:g}" for r, w in route["weights"].items() if w)
            parts.append(f"weights {weights} (rev {route['revision']})")
        rollout = self.route_watch.rollout
        if rollout is not None:
            step = rollout["step"]
            parts.append(
                f"rollout {rollout['status']} step {step['index'] + 1} ({step['percent']:g}%)"
            )
        return " · ".join(parts)


async def show(summary: Summary, duration_s: float, stop: asyncio.Event, quiet: bool) -> None:
    """Until `stop`: redraw (terminal) or print (otherwise) the progress and summary line."""
    if quiet:
        await stop.wait()
        return
    console = Console(stderr=True)
    if not sys.stderr.isatty():
        printed = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _TICK_S)
            now = summary.generator.now()
            if now - printed < _PLAIN_EVERY_S:
                summary.sample()
                continue
            printed = now
            console.print(f"[{now:6.1f} s] {summary.line()}", highlight=False, soft_wrap=True)
        return
    columns = (
        TextColumn("rehearsal"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[line]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("load", total=duration_s, line="")
        while not stop.is_set():
            progress.update(task, completed=summary.generator.now(), line=summary.line())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _TICK_S)
        progress.update(
            task, completed=min(summary.generator.now(), duration_s), line=summary.line()
        )

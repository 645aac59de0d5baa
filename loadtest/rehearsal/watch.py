"""Watching the deployment during a run: each replica's revision of the route (polled every
`slow_s`, and every millisecond around a flip until every replica has it), and the route as the
admin API shows it (weights, revision, rollout state) for the live line and the action.

The revision is read from `/readyz` by default: it reports the same in-memory value as the
`turnout_route_revision` metric, but a `/metrics` scrape costs the replica about 1 ms of CPU
(22 KB of text) against 0.1 ms, and polling that every millisecond would disturb the replicas
under test. `probe="metrics"` reads the metric itself.
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import orjson

from loadtest.rehearsal.admin import Admin, AdminError

Clock = Callable[[], float]


@dataclass(frozen=True)
class Seen:
    """A replica's revision changed between two polls: it applied `revision` after `after_s`
    (the send time of the last poll that still showed the old one) and by `by_s`."""

    revision: int
    after_s: float
    by_s: float


@dataclass
class RevisionWatch:
    session: aiohttp.ClientSession
    gateways: list[str]
    route: str
    clock: Clock
    probe: Literal["readyz", "metrics"] = "readyz"
    slow_s: float = 0.02
    fast_s: float = 0.001
    window_s: float = 1.0  # a fast window ends when every replica caught up, or after this
    seen: list[list[Seen]] = field(default_factory=list)
    polls: int = 0
    _target: int = 0
    _fast_until: float = 0.0
    _current: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seen = [[] for _ in self.gateways]
        self._current = [0 for _ in self.gateways]
        self._wake = [asyncio.Event() for _ in self.gateways]
        self._marker = f'turnout_route_revision{{route="{self.route}"}} '.encode()

    def expect(self, revision: int | None = None) -> None:
        """Poll fast now (a flip is coming, or was seen) until every replica has `revision`."""
        self._fast_until = self.clock() + self.window_s
        # without a number, the next revision is the one to wait for
        wanted = max(self._current) + 1 if revision is None else revision
        self._target = max(self._target, wanted)
        for event in self._wake:
            event.set()

    def _fast(self) -> bool:
        return self.clock() < self._fast_until and min(self._current) < self._target

    async def revision(self, replica: int) -> int:
        url = self.gateways[replica] + ("/readyz" if self.probe == "readyz" else "/metrics")
        async with self.session.get(url) as response:
            text = await response.read()
        if self.probe == "readyz":
            found = orjson.loads(text).get("routes", {}).get(self.route, 0)
            return int(found)
        start = text.find(self._marker)
        if start < 0:
            return 0
        start += len(self._marker)
        end = text.find(b"\n", start)
        return int(float(text[start:end]))

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._replica(n, stop) for n in range(len(self.gateways))))

    async def _replica(self, replica: int, stop: asyncio.Event) -> None:
        last_sent = self.clock()
        while not stop.is_set():
            sent = self.clock()
            try:
                revision = await self.revision(replica)
            except (TimeoutError, aiohttp.ClientError):
                revision = self._current[replica]
            self.polls += 1
            if revision != self._current[replica]:
                if self._current[replica]:
                    self.seen[replica].append(Seen(revision, last_sent, self.clock()))
                    self.expect(revision)  # the others should follow: watch them closely
                self._current[replica] = revision
            last_sent = sent
            wake = self._wake[replica]
            wake.clear()
            if self._fast():
                await asyncio.sleep(self.fast_s)
            else:  # until the next slow poll, or at once when a flip is announced
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.slow_s)


@dataclass
class RouteWatch:
    """The route through the admin API every `interval_s`; `changes` keeps each new state."""

    admin: Admin
    route: str
    clock: Clock
    on_revision: Callable[[int], None]
    interval_s: float = 0.25
    latest: dict[str, Any] | None = None
    changes: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    errors: int = 0

    @property
    def rollout(self) -> dict[str, Any] | None:
        found: dict[str, Any] | None = (self.latest or {}).get("rollout")
        return found

    async def refresh(self) -> dict[str, Any] | None:
        try:
            found = await self.admin.route(self.route)
        except (AdminError, TimeoutError, aiohttp.ClientError):
            self.errors += 1
            return self.latest
        if found is None:
            return self.latest
        previous = self.latest
        self.latest = found
        if previous is None or previous["revision"] != found["revision"]:
            if previous is not None:
                self.on_revision(int(found["revision"]))
            self.changes.append((self.clock(), found))
        return found

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh()
            await asyncio.sleep(self.interval_s)

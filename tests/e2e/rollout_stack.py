"""A rollout under real traffic: Redis, a gateway, the simulator, the admin API with its
controller, and simulated users who call the route and rate the answers per release.

Releases differ by model (r1 on `sim-a`, r2 on `sim-b`), so the simulator can give each its own
error rate and latency; the users give each its own thumbs-down rate. Seeded.
"""

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from simulator.behaviour import Behaviour
from tests.conftest import Admin, Gateway, Simulator, wait_for
from tests.control.conftest import Api

ROUTE = "bot"
FAST = {
    "controller": True,
    "rollout_tick_s": 0.2,
    "lease_ms": 2000,
    "rollout_settle_s": 0.5,
}


async def seed(api: Api, simulator: Simulator) -> None:
    """Provider `sim`; models sim-a@1 and sim-b@1; route `bot`: r1 (sim-a) stable, r2 (sim-b)."""
    await api.ok("PUT", "/admin/providers/sim", {"base_url": simulator.url, "timeout_s": 10})
    for model in ("sim-a", "sim-b"):
        await api.ok(
            "POST",
            f"/admin/models/{model}/versions",
            {"provider": "sim", "upstream_model": model},
        )
    await api.ok("POST", "/admin/routes", {"name": ROUTE, "release": {"model": "sim-a@1"}})
    await api.ok("POST", f"/admin/routes/{ROUTE}/releases", {"model": "sim-b@1"}, role="operator")


def behave(simulator: Simulator, model: str, **fields: Any) -> None:
    simulator.state.behaviours[model] = Behaviour(**fields)


@dataclass
class Calls:
    """What the users saw: per release, calls and failures; when the canary was first served."""

    calls: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    first: dict[str, float] = field(default_factory=dict)  # release -> monotonic time
    first_wall: dict[str, float] = field(default_factory=dict)  # release -> epoch s
    timeline: list[tuple[float, str, int]] = field(default_factory=list)  # (time, release, status)


class Users:
    """Open-loop callers at `rate` calls/s from `users` sticky users; each answer is rated
    (thumbs down with the release's probability) with probability `rated`. Users call equally
    often, or with Zipf(`activity`) skew (user k in proportion to 1/k^activity)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        gateway: Gateway,
        *,
        rate: float,
        thumbs_down: dict[str, float],
        users: int = 2000,
        rated: float = 1.0,
        seed: int = 1,
        pinned: str | None = None,
        scores: dict[str, float] | None = None,
        activity: float | None = None,
        route: str = ROUTE,
    ) -> None:
        self.http = http
        self.url = gateway.url
        self.rate = rate
        self.thumbs_down = thumbs_down
        self.users = users
        self.rated = rated
        self.rng = random.Random(seed)
        self.pinned = pinned  # every call forces this release (X-Turnout-Release)
        self.scores = scores  # rate with a score around this mean per release, not thumbs
        self.route = route
        self.seen = Calls()
        self._zipf = (
            list(itertools.accumulate(1 / k**activity for k in range(1, users + 1)))
            if activity is not None
            else None
        )
        self._task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(200)

    def start(self) -> "Users":
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._calls, return_exceptions=True)

    async def _run(self) -> None:
        began = time.monotonic()
        sent = 0
        while True:
            due = began + sent / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent += 1
            task = asyncio.create_task(self._one(f"user-{self._user()}"))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    def _user(self) -> int:
        if self._zipf is None:
            return self.rng.randrange(self.users)
        return self.rng.choices(range(self.users), cum_weights=self._zipf)[0]

    async def _one(self, user: str) -> None:
        body = {"model": self.route, "messages": [{"role": "user", "content": "hi"}], "user": user}
        headers = {"X-Turnout-Release": self.pinned} if self.pinned else {}
        down = self.rng.random()
        noise = self.rng.uniform(-0.2, 0.2)
        rate_it = self.rng.random() < self.rated
        async with self._limit:
            try:
                async with self.http.post(
                    f"{self.url}/v1/chat/completions", json=body, headers=headers
                ) as response:
                    await response.read()
                    release = response.headers.get("X-Turnout-Release", "?")
                    call_id = response.headers.get("X-Turnout-Call-Id")
                    status = response.status
            except aiohttp.ClientError:
                return
            seen = self.seen
            seen.calls[release] = seen.calls.get(release, 0) + 1
            seen.first.setdefault(release, time.monotonic())
            seen.first_wall.setdefault(release, time.time())
            seen.timeline.append((time.monotonic(), release, status))
            if status != 200:
                seen.failures[release] = seen.failures.get(release, 0) + 1
                return
            if rate_it and call_id:
                rating: dict[str, Any] = {"call_id": call_id}
                if self.scores is not None:
                    rating["score"] = min(max(self.scores.get(release, 0.5) + noise, 0.0), 1.0)
                else:
                    down_rate = self.thumbs_down.get(release, 0.0)
                    rating["value"] = "down" if down < down_rate else "up"
                async with self.http.post(f"{self.url}/v1/feedback", json=rating) as response:
                    await response.read()


async def rollout_of(api: Api) -> dict[str, Any]:
    view: dict[str, Any] = await api.ok("GET", f"/admin/routes/{ROUTE}/rollouts", role="viewer")
    return view


async def until_status(api: Api, statuses: set[str], timeout_s: float) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        found.update(await rollout_of(api))
        return found["rollout"]["status"] in statuses

    await wait_for(reached, timeout_s=timeout_s, step_s=0.05)
    return found


async def audit(api: Api) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = await api.ok(
        "GET", f"/admin/audit?route={ROUTE}&limit=1000", role="viewer"
    )
    return entries


__all__ = ["FAST", "ROUTE", "Admin", "Users", "audit", "behave", "seed", "until_status"]

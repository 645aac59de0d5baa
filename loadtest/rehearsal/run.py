"""One rehearsal from start to end: set the route up, offer the scenario's load while playing its
release action and watching replicas and controller, drain, then collect what the deployment
recorded (audit trail, rollout evidence, stats, the gateways' own call counters).
"""

import asyncio
import contextlib
import os
import resource
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from loadtest.rehearsal import action, live
from loadtest.rehearsal.admin import Admin, AdminError, configure_simulator
from loadtest.rehearsal.generator import Generator
from loadtest.rehearsal.local import Endpoints
from loadtest.rehearsal.records import CallLog
from loadtest.rehearsal.scenario import Scenario
from loadtest.rehearsal.schedule import Schedule, build
from loadtest.rehearsal.watch import RevisionWatch, RouteWatch, Seen

_LOOPBACK_HOSTS = {"localhost", "::1"}
_READY_TIMEOUT_S = 20.0


class RunRefused(RuntimeError):
    """The rehearsal cannot run against these targets; the message says why."""


@dataclass
class RunData:
    """Everything the report is computed from."""

    scenario: Scenario
    short: bool
    mode: str  # "local" or "remote"
    gateways: list[str]
    schedule: Schedule
    log: CallLog
    wall0: float  # epoch s at the start of the load (load time 0)
    load_s: float  # how long the load was offered
    played: action.Played
    seen: list[list[Seen]]
    revision_polls: int
    route_start: dict[str, Any]
    route_end: dict[str, Any]
    rollout_view: dict[str, Any] | None
    audit: list[dict[str, Any]]
    stats: dict[str, Any] | None
    gateway_calls: int  # the gateways' own count of this run's calls (metrics, all replicas)
    feedback_unsent: int
    generator_cpu_s: float  # this process: generator, watchers, live view
    children_cpu_s: dict[str, float] = field(default_factory=dict)
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)


def check_loopback(urls: list[str]) -> None:
    for url in urls:
        host = urlsplit(url).hostname or ""
        if not (host in _LOOPBACK_HOSTS or host.startswith("127.")):
            raise RunRefused(f"{url}: the rehearsal only sends load to loopback addresses")


async def gateway_calls(session: aiohttp.ClientSession, gateways: list[str], route: str) -> int:
    """Sum over replicas of `turnout_requests_total` for the route (every release and class)."""
    label = f'route="{route}"'
    total = 0.0
    for url in gateways:
        async with session.get(url + "/metrics") as response:
            text = await response.text()
        for line in text.splitlines():
            if line.startswith("turnout_requests_total{") and label in line:
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


async def _wait_replicas(revisions: RevisionWatch, revision: int) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    for replica, url in enumerate(revisions.gateways):
        while True:
            try:
                if await revisions.revision(replica) >= revision:
                    break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RunRefused(f"gateway {url} did not load route revision {revision} in time")
            await asyncio.sleep(0.05)


async def rehearse(
    scenario: Scenario,
    endpoints: Endpoints,
    *,
    short: bool = False,
    mode: str = "local",
    quiet: bool = False,
) -> RunData:
    urls = [*endpoints.gateways, endpoints.admin]
    check_loopback(urls + ([endpoints.simulator] if endpoints.simulator else []))
    schedule = build(scenario)
    log = CallLog(len(schedule), scenario.release_ids())
    route = scenario.route.name
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as side:
        admin = Admin(side, endpoints.admin, endpoints.token)
        if endpoints.simulator is not None:
            await configure_simulator(side, endpoints.simulator, scenario)
        await admin.set_up(scenario, endpoints.simulator)
        route_start = await admin.route(route)
        if route_start is None:
            raise AdminError(f"route {route!r} vanished during set-up")
        generator = Generator(scenario, schedule, endpoints.gateways, log)
        revisions = RevisionWatch(side, endpoints.gateways, route, generator.now)
        await _wait_replicas(revisions, int(route_start["revision"]))
        calls_before = await gateway_calls(side, endpoints.gateways, route)
        route_watch = RouteWatch(admin, route, generator.now, revisions.expect)
        played = action.Played()
        stop, watchers_stop = asyncio.Event(), asyncio.Event()
        cpu_before = _cpu_self()
        children_before = {n: c.cpu_seconds() for n, c in endpoints.children.items()}
        wall0, generator.started = time.time(), time.perf_counter()
        summary = live.Summary(generator, route_watch)
        background = [
            asyncio.create_task(revisions.run(watchers_stop)),
            asyncio.create_task(route_watch.run(watchers_stop)),
            asyncio.create_task(live.show(summary, scenario.run.duration_s, watchers_stop, quiet)),
        ]
        player = asyncio.create_task(
            action.play(scenario, admin, generator.now, revisions, route_watch, stop, played)
        )
        player.add_done_callback(lambda task: _stop_on_failure(task, stop))
        stopper = asyncio.create_task(_stop_after_outcome(scenario, played, generator, stop))
        try:
            await generator.run(stop)
        finally:
            load_s = generator.now()
            stop.set()
            await generator.drain(scenario.run.request_timeout_s + 1)
            watchers_stop.set()
            if not player.done():
                player.cancel()
            results = await asyncio.gather(player, stopper, *background, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        generator_cpu = _cpu_self() - cpu_before
        children = {n: c.cpu_seconds() - children_before[n] for n, c in endpoints.children.items()}
        calls_after = await gateway_calls(side, endpoints.gateways, route)
        route_end = await admin.route(route) or route_start
        rollout_view = await admin.rollout(route)
        audit = await admin.audit(route, wall0 - 1)
        window = f"{max(int(load_s) + 60, 60)}s"
        try:
            stats: dict[str, Any] | None = await admin.stats(route, window)
        except AdminError:
            stats = None
    return RunData(
        scenario=scenario,
        short=short,
        mode=mode,
        gateways=endpoints.gateways,
        schedule=schedule,
        log=log,
        wall0=wall0,
        load_s=load_s,
        played=played,
        seen=revisions.seen,
        revision_polls=revisions.polls,
        route_start=route_start,
        route_end=route_end,
        rollout_view=rollout_view,
        audit=audit,
        stats=stats,
        gateway_calls=calls_after - calls_before,
        feedback_unsent=generator.feedback_unsent,
        generator_cpu_s=generator_cpu,
        children_cpu_s=children,
        load_average=os.getloadavg(),
    )


async def _stop_after_outcome(
    scenario: Scenario, played: action.Played, generator: Generator, stop: asyncio.Event
) -> None:
    linger = scenario.run.stop_after_outcome_s
    if linger is None:
        return
    while played.outcome_at_s is None:
        if stop.is_set():
            return
        await asyncio.sleep(0.05)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(played.outcome_at_s + linger - generator.now(), 0))
    stop.set()


def _stop_on_failure(task: "asyncio.Task[None]", stop: asyncio.Event) -> None:
    """An action that failed (the admin API refused a flip, say) ends the load early."""
    if not task.cancelled() and task.exception() is not None:
        stop.set()


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

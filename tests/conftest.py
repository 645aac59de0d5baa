"""Real parts for tests: a redis-server process, the simulated provider, the gateway.

Every fixture starts its part on a free loopback port and stops it afterwards; nothing touches
a Redis that the test did not start.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from gateway.app import build_app, make_runner
from gateway.contract.snapshot import ReleaseSpec, RouteState
from gateway.keys import CONTEXT
from gateway.settings import GatewaySettings
from simulator.server import SIM_STATE, SimState
from simulator.server import build_app as build_sim_app
from tests import builders
from tests.seeding import seed_provider, seed_route
from turnout.embedded_redis import EmbeddedRedis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisProcess:
    """A redis-server child a test can kill (SIGKILL) and start again on the same port."""

    def __init__(self, data_dir: Path, persist: bool = False) -> None:
        self.server = EmbeddedRedis(data_dir, port=free_port(), persist=persist)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def kill(self) -> None:
        self.server.kill()

    def stop(self) -> None:
        """Graceful stop (SIGTERM): a persistent server keeps its data for the next start."""
        self.server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    process = RedisProcess(tmp_path / "redis")
    process.start()
    yield process
    process.server.stop()


@pytest.fixture
def persistent_redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    process = RedisProcess(tmp_path / "redis-aof", persist=True)
    process.start()
    yield process
    process.server.stop()


@pytest.fixture
async def redis(redis_server: RedisProcess) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


class LoopbackApp:
    """An aiohttp app served on a loopback port by the test's own event loop."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.port = port
        self.app = runner.app

    @classmethod
    async def serve(cls, runner: web.AppRunner, port: int | None = None) -> Any:
        port = free_port() if port is None else port
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return cls(runner, port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


class Simulator(LoopbackApp):
    @property
    def state(self) -> SimState:
        return self.app[SIM_STATE]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def received(self) -> list[Any]:
        return list(self.state.received)


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    simulator: Simulator = await Simulator.serve(web.AppRunner(build_sim_app(), access_log=None))
    yield simulator
    await simulator.stop()


class Gateway(LoopbackApp):
    @property
    def context(self) -> Any:
        return self.app[CONTEXT]


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    """Starts in-process gateways (real sockets, same event loop as the test)."""
    started: list[Gateway] = []

    async def start(redis_url: str | None, **overrides: Any) -> Gateway:
        fields: dict[str, Any] = {
            "port": free_port(),
            "redis_url": redis_url,
            "data_dir": str(tmp_path / f"gw{len(started)}"),
            "poll_interval_s": 0.5,
        }
        fields.update(overrides)
        settings = msgspec.convert(fields, GatewaySettings)
        gateway: Gateway = await Gateway.serve(make_runner(build_app(settings)), settings.port)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def publish_route(
    redis: aioredis.Redis,
    simulator: Simulator,
    route: RouteState,
    releases: list[ReleaseSpec],
    **provider_fields: Any,
) -> int:
    """The simulator as provider `sim` and `route` with `releases`, through the registry;
    returns the route's revision."""
    await seed_provider(redis, builders.provider(simulator.url, **provider_fields))
    return await seed_route(redis, route, releases)


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float = 5.0, step_s: float = 0.005
) -> float:
    """Poll until `predicate` holds; returns the seconds it took. Fails the test on time-out."""
    started = time.perf_counter()
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(step_s)


class GatewayProcess:
    """`turnout gateway` as a real OS process."""

    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
async def gateway_processes(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[GatewayProcess]]]:
    started: list[GatewayProcess] = []

    async def start(
        redis_url: str, *extra: str, env: dict[str, str] | None = None
    ) -> GatewayProcess:
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "turnout.cli",
            "gateway",
            "--port",
            str(port),
            "--redis-url",
            redis_url,
            "--data-dir",
            str(tmp_path / f"proc{len(started)}"),
            *extra,
        ]
        environment = {**os.environ, "TURNOUT_POLL_INTERVAL_S": "0.5", **(env or {})}
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        gateway = GatewayProcess(port, process)
        started.append(gateway)
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                try:
                    async with session.get(f"{gateway.url}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(ready, timeout_s=15)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


# --- control plane -------------------------------------------------------------------------------

ADMIN_TOKENS = {
    "admin": ("alice", "alice-admin-token-0001"),
    "operator": ("olga", "olga-operator-token-02"),
    "viewer": ("vic", "vic-viewer-token-00003"),
}


class Admin(LoopbackApp):
    """The admin API on loopback, with one token per role."""

    @staticmethod
    def token(role: str = "admin") -> str:
        return ADMIN_TOKENS[role][1]

    @classmethod
    def auth(cls, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {cls.token(role)}"}


AdminFactory = Callable[..., Awaitable[Admin]]


@pytest.fixture
async def admin_factory() -> AsyncIterator[AdminFactory]:
    """Starts in-process admin APIs (real sockets, same event loop as the test)."""
    from control.api.app import build_admin_app
    from control.settings import ControlSettings

    started: list[Admin] = []

    async def start(redis_url: str, **overrides: Any) -> Admin:
        fields: dict[str, Any] = {
            "port": free_port(),
            "redis_url": redis_url,
            "admin_tokens": ",".join(f"{n}:{role}:{t}" for role, (n, t) in ADMIN_TOKENS.items()),
            "controller": False,  # rollout tests turn the controller on
        }
        fields.update(overrides)
        settings = msgspec.convert(fields, ControlSettings)
        runner = web.AppRunner(build_admin_app(settings), access_log=None)
        admin: Admin = await Admin.serve(runner, settings.port)
        started.append(admin)
        return admin

    yield start
    for admin in started:
        await admin.stop()


# --- Redis Cluster -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A 3-master Redis Cluster shared by the run's cluster tests (they flush it before use)."""
    from tests.redis_cluster import LocalCluster

    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[Any]:
    """3 masters with one replica each, for failover tests (a cluster of its own)."""
    from tests.redis_cluster import LocalCluster

    cluster = LocalCluster(tmp_path / "cluster", replicas=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()

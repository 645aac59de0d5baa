"""Turnout under test: its own redis-server, the benchmark's routes, `turnout gateway` pinned.

The routes are written with the control plane's publisher, the way `turnout up --demo` does.
"""

import asyncio
import os
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import redis.asyncio as aioredis

from control.publish import put_provider, put_route
from gateway.contract.snapshot import (
    ModelSpec,
    PromptSpec,
    ProviderSpec,
    ReleaseSpec,
    RouteState,
)
from loadtest.procs import Child, ChildFailed, pinned
from turnout.embedded_redis import EmbeddedRedis

BENCH_ROUTE = "bench"  # non-streaming, to the canned nginx upstream
STREAM_ROUTE = "stream"  # streaming, to the simulator
HELD_ROUTE = "held"  # streaming, to the simulator's slow model: many streams open at once
HELD_MODEL = "held-model"
HELD_CHUNK_DELAY_MS = 300.0


class PinnedRedis(EmbeddedRedis):
    """A throw-away redis-server on a unix socket in the run's directory, on one CPU."""

    def __init__(self, data_dir: Path, cpu: int) -> None:
        super().__init__(data_dir, persist=False)
        self.cpu = cpu

    def command(self) -> list[str]:
        return pinned(self.cpu, super().command())


def _release(
    release_id: str, provider: str, system: str, upstream_model: str = "bench-model"
) -> ReleaseSpec:
    return ReleaseSpec(
        id=release_id,
        model=ModelSpec(
            ref="bench-model@1",
            provider=provider,
            upstream_model=upstream_model,
            params={"temperature": 0.2},
        ),
        prompt=PromptSpec(ref=f"bench-prompt@{release_id[1:]}", system=system),
        params={"max_tokens": 64},
    )


async def publish_routes(redis_url: str, upstream_url: str, simulator_url: str) -> None:
    """`bench`: two releases at 90/10 (weighted choice, prompt, params); `stream`: one release."""
    redis = aioredis.Redis.from_url(redis_url)
    try:
        await put_provider(redis, ProviderSpec(name="canned", base_url=upstream_url))
        # enough upstream connections for every held stream at once
        await put_provider(
            redis, ProviderSpec(name="sim", base_url=simulator_url, max_connections=4096)
        )
        bench = [
            _release("r1", "canned", "You are a terse assistant."),
            _release("r2", "canned", "You are a terse and friendly assistant."),
        ]
        state = RouteState(
            name=BENCH_ROUTE, revision=1, stable="r1", weights_bp={"r1": 9000, "r2": 1000}
        )
        await put_route(redis, state, bench)
        stream_state = RouteState(
            name=STREAM_ROUTE, revision=1, stable="r1", weights_bp={"r1": 10000}
        )
        await put_route(redis, stream_state, [_release("r1", "sim", "You stream.")])
        held_state = RouteState(name=HELD_ROUTE, revision=1, stable="r1", weights_bp={"r1": 10000})
        await put_route(redis, held_state, [_release("r1", "sim", "You hold.", HELD_MODEL)])
    finally:
        await redis.aclose()


def start_gateway(
    port: int, redis_url: str, data_dir: Path, cpu: int, extra_env: dict[str, str] | None = None
) -> Child:
    """`turnout gateway`, one worker, with default settings unless `extra_env` says otherwise."""
    data_dir.mkdir(parents=True, exist_ok=True)
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
        str(data_dir),
        "--log-level",
        "warning",
        "--workers",
        "1",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(extra_env or {})
    gateway = Child("turnout gateway", command, cpu, data_dir / "gateway.log", env)
    gateway.wait_port(port)
    return gateway


def wait_ready(gateway: Child, port: int, timeout_s: float = 15.0) -> None:
    """Until /readyz says the routing snapshot is loaded."""
    deadline = time.monotonic() + timeout_s
    while True:
        gateway.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ChildFailed("turnout gateway did not become ready (no routing snapshot)")
        time.sleep(0.05)


def run_publish(redis_url: str, upstream_url: str, simulator_url: str) -> None:
    asyncio.run(publish_routes(redis_url, upstream_url, simulator_url))
    request = urllib.request.Request(
        f"{simulator_url.rstrip('/').removesuffix('/v1')}/_sim/behaviour",
        data=orjson.dumps(
            {"model": HELD_MODEL, "behaviour": {"chunk_delay_ms": HELD_CHUNK_DELAY_MS}}
        ),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()

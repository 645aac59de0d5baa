"""Everything one benchmark run starts, and stops again in reverse order.

CPU `sut` holds only the system under test (nginx proxy or Turnout gateway); CPU `load` holds
wrk, the canned nginx upstream, the simulator and Turnout's redis-server.
"""

import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson

from loadtest import nginx
from loadtest.procs import Child, ChildFailed, free_port
from loadtest.report import DIRECT, NGINX, TURNOUT
from loadtest.seed import BENCH_ROUTE, STREAM_ROUTE, seed_routes
from loadtest.turnout_gateway import PinnedRedis, start_gateway, wait_ready

CHAT_PATH = "/v1/chat/completions"
REQUEST_BODY = orjson.dumps({"model": BENCH_ROUTE, "messages": [{"role": "user", "content": "hi"}]})


@dataclass(frozen=True)
class Target:
    name: str
    port: int  # non-streaming calls
    stream_port: int  # streaming calls (to the simulator, directly or through the proxy)
    sut: Child | None  # the proxy's process tree; None for direct

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{CHAT_PATH}"


class Stack:
    def __init__(
        self, workdir: Path, sut_cpu: int, load_cpu: int, gateway_env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.gateway_env = gateway_env or {}
        self.sut_cpu = sut_cpu
        self.load_cpu = load_cpu
        self.children: list[Child] = []
        self.redis: PinnedRedis | None = None
        self.targets: dict[str, Target] = {}

    def start(self) -> None:
        upstream_port, simulator_port = free_port(), free_port()
        proxy_port, proxy_stream_port, gateway_port = free_port(), free_port(), free_port()
        upstream = self._keep(
            nginx.start(
                "upstream nginx",
                self.workdir / "upstream",
                nginx.upstream_config(
                    self.workdir / "upstream", upstream_port, nginx.canned_completion()
                ),
                self.load_cpu,
            )
        )
        simulator = self._keep(
            Child(
                "simulator",
                [sys.executable, "-m", "turnout.cli", "simulator", "--port", str(simulator_port)],
                self.load_cpu,
                self.workdir / "simulator.log",
            )
        )
        proxy_prefix = self.workdir / "proxy"
        proxy_text = nginx.proxy_config(
            proxy_prefix, proxy_port, upstream_port, proxy_stream_port, simulator_port
        )
        proxy = self._keep(nginx.start("nginx proxy", proxy_prefix, proxy_text, self.sut_cpu))
        upstream.wait_port(upstream_port)
        simulator.wait_port(simulator_port)
        proxy.wait_port(proxy_port)
        self.redis = PinnedRedis(self.workdir / "redis", self.load_cpu)
        self.redis.start()
        seed_routes(
            self.workdir / "seed",
            self.redis.url,
            f"http://127.0.0.1:{upstream_port}/v1",
            f"http://127.0.0.1:{simulator_port}/v1",
            self.load_cpu,
        )
        gateway = self._keep(
            start_gateway(
                gateway_port,
                self.redis.url,
                self.workdir / "gateway",
                self.sut_cpu,
                self.gateway_env,
            )
        )
        wait_ready(gateway, gateway_port)
        self.targets = {
            DIRECT: Target(DIRECT, upstream_port, simulator_port, None),
            NGINX: Target(NGINX, proxy_port, proxy_stream_port, proxy),
            TURNOUT: Target(TURNOUT, gateway_port, gateway_port, gateway),
        }
        for target in self.targets.values():
            preflight(target)

    def _keep(self, child: Child) -> Child:
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


def preflight(target: Target) -> None:
    """One call through the target; a clear failure instead of a table full of errors."""
    request = urllib.request.Request(
        target.url, data=REQUEST_BODY, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            body = orjson.loads(answer.read())
            release = answer.headers.get("X-Turnout-Release")
    except (OSError, orjson.JSONDecodeError) as error:
        raise ChildFailed(f"{target.name}: a first call failed: {error}") from None
    if not isinstance(body, dict) or "choices" not in body:
        raise ChildFailed(f"{target.name}: a first call did not return a chat completion")
    if target.name == TURNOUT and release not in ("r1", "r2"):
        raise ChildFailed(f"Turnout answered without a release tag (got {release!r})")


def counted_calls(gateway_port: int) -> int:
    """Sum of Turnout's `turnout_requests_total` counters for the benchmark's routes."""
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("turnout_requests_total{") and any(
            f'route="{route}"' in line for route in (BENCH_ROUTE, STREAM_ROUTE)
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)

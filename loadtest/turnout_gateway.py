"""Turnout under test: its own redis-server and `turnout gateway` pinned; the routes come from
`loadtest.seed` (the admin API, as an operator writes them).
"""

import os
import sys
import time
import urllib.request
from pathlib import Path

from loadtest.procs import Child, ChildFailed, pinned
from turnout.embedded_redis import EmbeddedRedis


class PinnedRedis(EmbeddedRedis):
    """A throw-away redis-server on a unix socket in the run's directory, on one CPU."""

    def __init__(self, data_dir: Path, cpu: int) -> None:
        super().__init__(data_dir, persist=False)
        self.cpu = cpu

    def command(self) -> list[str]:
        return pinned(self.cpu, super().command())


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

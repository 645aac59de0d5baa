"""The self-contained stack of `turnout loadtest run --local`: a throw-away redis-server on a unix
socket, the simulator, N `turnout gateway` replicas and one `turnout control` (admin API and
rollout controller), all on 127.0.0.1 in a temporary directory, stopped in reverse order.

It never touches a Redis it did not start.
"""

import os
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.procs import Child, free_port
from loadtest.rehearsal.scenario import Local
from turnout.embedded_redis import EmbeddedRedis


@dataclass
class Endpoints:
    gateways: list[str]
    admin: str
    token: str | None
    simulator: str | None
    children: dict[str, Child] = field(default_factory=dict)  # name -> process (local only)


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_") and k != "REDIS_URL"}
    env.update(extra)
    return env


def _turnout(*args: str) -> list[str]:
    return [sys.executable, "-m", "turnout.cli", *args]


class LocalStack:
    def __init__(self, settings: Local, workdir: Path | None = None) -> None:
        self.settings = settings
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="turnout-rehearsal-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.redis: EmbeddedRedis | None = None
        self.children: list[Child] = []

    def start(self) -> Endpoints:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Endpoints:
        settings = self.settings
        self.redis = EmbeddedRedis(self.workdir / "redis", persist=False)
        self.redis.start()
        token = secrets.token_urlsafe(24)
        sim_port, admin_port = free_port(), free_port()
        simulator = self._child(
            "simulator", _turnout("simulator", "--port", str(sim_port)), _clean_env({})
        )
        control_env = _clean_env(
            {
                "TURNOUT_ADMIN_TOKENS": f"rehearsal:admin:{token}",
                "TURNOUT_ROLLOUT_TICK_S": str(settings.rollout_tick_s),
                "TURNOUT_ROLLOUT_SETTLE_S": str(settings.rollout_settle_s),
            }
        )
        control = self._child(
            "control",
            _turnout(
                "control",
                "--port",
                str(admin_port),
                "--redis-url",
                self.redis.url,
                "--data-dir",
                str(self.workdir / "control"),
                "--log-level",
                "warning",
            ),
            control_env,
        )
        gateway_env = _clean_env(
            {
                "TURNOUT_FLUSH_INTERVAL_S": str(settings.flush_interval_s),
                "TURNOUT_POLL_INTERVAL_S": str(settings.poll_interval_s),
            }
        )
        ports = [free_port() for _ in range(settings.replicas)]
        gateways = [
            self._child(
                f"gateway-{n}",
                _turnout(
                    "gateway",
                    "--port",
                    str(port),
                    "--redis-url",
                    self.redis.url,
                    "--data-dir",
                    str(self.workdir / f"gateway-{n}"),
                    "--log-level",
                    "warning",
                    "--workers",
                    "1",
                ),
                gateway_env,
            )
            for n, port in enumerate(ports)
        ]
        simulator.wait_port(sim_port)
        control.wait_port(admin_port)
        for gateway, port in zip(gateways, ports, strict=True):
            gateway.wait_port(port)
        return Endpoints(
            gateways=[f"http://127.0.0.1:{port}" for port in ports],
            admin=f"http://127.0.0.1:{admin_port}",
            token=token,
            simulator=f"http://127.0.0.1:{sim_port}",
            children={child.name: child for child in self.children},
        )

    def _child(self, name: str, command: list[str], env: dict[str, str]) -> Child:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        child = Child(name, command, None, self.workdir / "logs" / f"{name}.log", env)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

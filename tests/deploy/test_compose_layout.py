"""The compose layout as processes: the image's entrypoint commands and environments taken from
docker/compose.yaml (two gateways, two control replicas, the simulator, the one-shot setup) on
one real redis-server, with compose's host names mapped to loopback ports."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.conftest import RedisProcess, free_port, wait_for
from tests.deploy import compose

TURNOUT = Path(sys.executable).with_name("turnout")  # the console script the image runs
TURNOUT_SERVICES = ("simulator", "control-1", "control-2", "gateway-1", "gateway-2")
CONTAINER_PORTS = {"simulator": 8090, "control": 8081, "gateway": 8080}


class Layout:
    def __init__(self, redis_url: str, root: Path) -> None:
        self.root = root
        self.document = compose.load()
        self.ports = {name: free_port() for name in TURNOUT_SERVICES}
        redis_address = redis_url.split("://", 1)[1].split("/", 1)[0]
        self.addresses = {"redis:6379": redis_address}
        for name in TURNOUT_SERVICES:
            inner = CONTAINER_PORTS[name.split("-")[0]]
            self.addresses[f"{name}:{inner}"] = f"127.0.0.1:{self.ports[name]}"
        self.processes: list[subprocess.Popen[bytes]] = []

    def localise(self, value: str, service: str | None = None) -> str:
        """Compose's network names → this test's loopback addresses; a service's own port too."""
        for address, local in self.addresses.items():
            value = value.replace(address, local)
        if service in self.ports:
            inner = CONTAINER_PORTS[service.split("-")[0]]
            value = value.replace(f"127.0.0.1:{inner}/", f"127.0.0.1:{self.ports[service]}/")
        return value

    def environment(self, service: str, declared: dict[str, str]) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
        clean.pop("REDIS_URL", None)
        # What the image's ENV gives every container, with loopback instead of 0.0.0.0.
        clean.update(TURNOUT_HOST="127.0.0.1", TURNOUT_DATA_DIR=str(self.root / service))
        clean.update({k: self.localise(v, service) for k, v in declared.items()})
        for name in ("TURNOUT_PORT", "TURNOUT_ADMIN_PORT"):
            if name in declared:
                clean[name] = str(self.ports[service])
        return clean

    def start(self, service: str) -> dict[str, str]:
        command, declared = compose.service(self.document, service)
        if "--port" in command:
            command[command.index("--port") + 1] = str(self.ports[service])
        command = ["127.0.0.1" if arg == "0.0.0.0" else arg for arg in command]
        env = self.environment(service, declared)
        self.processes.append(
            subprocess.Popen(
                [str(TURNOUT), *command],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        return env

    def run(self, service: str, *command: str, env: dict[str, str]) -> str:
        done = subprocess.run(
            [str(TURNOUT), *command], env=env, capture_output=True, timeout=30, check=False
        )
        assert done.returncode == 0, (service, command, done.stdout, done.stderr)
        return done.stdout.decode()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def layout(redis_server: RedisProcess, tmp_path: Path) -> Iterator[Layout]:
    started = Layout(redis_server.url, tmp_path)
    yield started
    started.stop()


def healthcheck_command() -> list[str]:
    """The Dockerfile's HEALTHCHECK CMD (exec form), as the container engine would run it."""
    text = (compose.DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.MULTILINE)
    assert match is not None
    command: list[str] = orjson.loads(match.group(1))
    return [sys.executable if command[0] == "python" else command[0], *command[1:]]


async def _get_ok(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _release_of(session: aiohttp.ClientSession, gateway_url: str) -> str | None:
    body = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}
    async with session.post(f"{gateway_url}/v1/chat/completions", json=body) as response:
        if response.status != 200:
            return None
        await response.read()
        return response.headers["X-Turnout-Release"]


@pytest.mark.slow
async def test_compose_processes_serve_and_follow_a_flip_made_through_either_control(layout):
    environments = {service: layout.start(service) for service in TURNOUT_SERVICES}
    probe = healthcheck_command()
    async with aiohttp.ClientSession() as session:
        for service, env in environments.items():
            ready = env["TURNOUT_HEALTHCHECK_URL"].replace("/healthz", "/readyz")
            if service == "simulator":
                ready = env["TURNOUT_HEALTHCHECK_URL"]
            await wait_for(lambda url=ready: _get_ok(session, url), timeout_s=20, step_s=0.1)
            # the image's HEALTHCHECK, with the service's own TURNOUT_HEALTHCHECK_URL
            assert subprocess.run(probe, env=env, timeout=10, check=False).returncode == 0

        # the one-shot `setup` service: `turnout apply` of docker/registry.toml via control-1
        setup_command, setup_declared = compose.service(layout.document, "setup")
        registry = layout.root / "registry.toml"
        registry.write_text(layout.localise((compose.DOCKER / "registry.toml").read_text()))
        setup_env = layout.environment("setup", setup_declared)
        setup_command[setup_command.index("-f") + 1] = str(registry)
        layout.run("setup", *setup_command, env=setup_env)

        gateways = [f"http://127.0.0.1:{layout.ports[g]}" for g in ("gateway-1", "gateway-2")]
        for url in gateways:
            await wait_for(lambda u=url: _served_by(session, u, "r1"), timeout_s=10, step_s=0.05)

        # a new release and a flip, both through the *second* control replica
        control_2 = {
            **setup_env,
            "TURNOUT_ADMIN_URL": f"http://127.0.0.1:{layout.ports['control-2']}",
        }
        release = ["--model", "sim-chat@1", "--prompt", "support@1", "--param", "temperature=0.5"]
        layout.run("control-2", "release", "create", "demo", *release, env=control_2)
        flip = ["r1=0", "r2=100", "--reason", "compose layout test"]
        layout.run("control-2", "weights", "set", "demo", *flip, env=control_2)
        for url in gateways:
            await wait_for(lambda u=url: _served_by(session, u, "r2"), timeout_s=5, step_s=0.05)
            async with session.get(f"{url}/metrics") as response:
                text = await response.text()
            assert 'turnout_release_weight_percent{release="r2",route="demo"} 100.0' in text
    assert all(process.poll() is None for process in layout.processes)  # nothing crashed


async def _served_by(session: aiohttp.ClientSession, url: str, release: str) -> bool:
    return await _release_of(session, url) == release

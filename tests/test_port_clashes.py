"""A taken port is one line naming the port and the flag that changes it, exit 1, for every
process command (real processes, a real listener holding the port); nothing is started."""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def turnout(*argv: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_") and k != "REDIS_URL"
    }
    return subprocess.run(
        [sys.executable, "-m", "turnout.cli", *argv],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def up(data_dir: Path, port: int, admin_port: int, sim_port: int) -> list[str]:
    return [
        "up",
        "--demo",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--admin-port",
        str(admin_port),
        "--sim-port",
        str(sim_port),
    ]


@pytest.mark.parametrize(
    ("which", "flag"),
    [
        ("port", "--port (or TURNOUT_PORT)"),
        ("admin", "--admin-port (or TURNOUT_ADMIN_PORT)"),
        ("sim", "--sim-port (or TURNOUT_SIM_PORT)"),
    ],
)
def test_turnout_up_names_the_taken_port_and_its_flag(tmp_path, taken_port, which, flag):
    ports = {"port": free_port(), "admin": free_port(), "sim": free_port(), which: taken_port}
    data_dir = tmp_path / "data"
    line = one_line(turnout(*up(data_dir, ports["port"], ports["admin"], ports["sim"])))
    assert line.startswith(f"turnout: port {taken_port} (")
    assert "already in use" in line and line.endswith(f"pass {flag} to use another")
    assert not (data_dir / "redis").exists()  # no Redis started, nothing of it written


def test_turnout_up_refuses_one_port_for_two_parts(tmp_path):
    port = free_port()
    line = one_line(turnout(*up(tmp_path, port, port, free_port())))
    assert line == (
        f"turnout: port {port} is asked for both gateway and admin API: pass --admin-port "
        "(or TURNOUT_ADMIN_PORT) to use another"
    )


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["gateway", "--redis-url", "redis://127.0.0.1:9/0"], "--port (or TURNOUT_PORT)"),
        (["control", "--redis-url", "redis://127.0.0.1:9/0"], "--port (or TURNOUT_ADMIN_PORT)"),
        (["simulator"], "--port"),
    ],
)
def test_each_process_command_names_the_taken_port(taken_port, command, flag):
    line = one_line(turnout(*command, "--port", str(taken_port)))
    assert f"port {taken_port} (" in line and line.endswith(f"pass {flag} to use another")

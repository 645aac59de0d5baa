"""A `turnout gateway` process carries only the data plane: the operator CLI's modules would pull
in the control plane and its libraries (numpy, jsonschema, rich), ~24 MB of RSS in every worker.
Checked on a real process, serving, with Python's own import log."""

import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.conftest import free_port, wait_for

NOT_IN_THE_DATA_PLANE = ("control", "loadtest", "numpy", "jsonschema", "rich", "scipy")


def imported(importtime_log: str) -> set[str]:
    """Module names from `-X importtime` lines (`import time: self | cumulative | name`)."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


async def test_a_serving_gateway_process_imports_no_control_plane(redis_server, tmp_path: Path):
    port = free_port()
    log = tmp_path / "imports.log"
    command = [sys.executable, "-X", "importtime", "-m", "turnout.cli", "gateway"]
    command += ["--port", str(port), "--redis-url", redis_server.url]
    command += ["--data-dir", str(tmp_path / "data"), "--log-level", "warning"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as answer:
                        return answer.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(ready, timeout_s=15)
            async with session.get(f"http://127.0.0.1:{port}/metrics") as answer:
                assert answer.status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
    names = imported(log.read_text(errors="replace"))
    assert {"gateway.server", "gateway.listener"} <= names  # the log is read
    assert sorted(n for n in names if n.split(".")[0] in NOT_IN_THE_DATA_PLANE) == []


def test_the_operator_verbs_still_parse_from_the_same_command():
    done = subprocess.run(
        [sys.executable, "-m", "turnout.cli", "routes", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and "--admin-url" in done.stdout

"""Schemathesis against the real admin API (`turnout control` as a process, a real redis-server),
with an admin, a viewer and no token: no server error, no mismatch between /admin/openapi.json
and what the server does (bodies, statuses, headers, 405s with `Allow`).

Bounded: a fixed seed and a few examples per operation, so it stays within seconds.
"""

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ADMIN_TOKENS, RedisProcess, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).parent / "st"
MAX_EXAMPLES = "5"


@pytest.fixture
async def control_process(redis_server: RedisProcess, tmp_path) -> AsyncIterator[str]:
    port = free_port()
    environment = {
        **os.environ,
        "TURNOUT_ADMIN_TOKENS": ",".join(f"{n}:{r}:{t}" for r, (n, t) in ADMIN_TOKENS.items()),
    }
    command = [sys.executable, "-m", "turnout.cli", "control", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--redis-url", redis_server.url, "--data-dir", str(tmp_path)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def up() -> bool:
                try:
                    async with http.get(f"{url}/admin/openapi.json") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(up, timeout_s=15, step_s=0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def seed(url: str) -> None:
    """A provider, a prompt, a model and the route `support` the config file points at."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKENS['admin'][1]}"}
    calls = [
        ("PUT", "/admin/providers/sim", {"base_url": "http://127.0.0.1:9/v1"}),
        ("POST", "/admin/prompts/support/versions", {"system": "You help."}),
        ("POST", "/admin/models/chat/versions", {"provider": "sim", "upstream_model": "m"}),
        ("POST", "/admin/routes", {"name": "support", "release": {"model": "chat@1"}}),
        ("POST", "/admin/routes/support/releases", {"model": "chat@1", "prompt": "support@1"}),
    ]
    async with aiohttp.ClientSession(headers=auth) as http:
        for method, path, body in calls:
            async with http.request(method, f"{url}{path}", json=body) as response:
                assert response.status in (200, 201), await response.text()


def schemathesis(url: str, token: str | None, workdir: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(ST),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{url}/admin/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",  # replaced by the hooks' stricter-worded version
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        "20261129",
        "--workers",
        "1",
        "--no-color",
        "--generation-database",
        "none",
    ]
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.control.schemathesis_hooks",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("role", ["admin", "viewer", None])
async def test_schemathesis_finds_no_server_error_and_no_mismatch(control_process, role, tmp_path):
    await seed(control_process)
    token = ADMIN_TOKENS[role][1] if role else None
    result = schemathesis(control_process, token, tmp_path)  # its cache stays out of the tree
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-12000:]
    assert "No issues found" in report or " passed" in report, report[-3000:]

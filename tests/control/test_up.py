"""`turnout up --demo` as a real process: embedded Redis, gateway and admin API side by side, the
demo route created through the registry, and an admin token generated once and kept."""

import os
import signal
import stat
import subprocess
import sys

import aiohttp

from tests.conftest import free_port, wait_for


class Up:
    def __init__(self, data_dir) -> None:
        self.data_dir = data_dir.resolve()
        self.port, self.admin_port, self.sim_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        environment = {
            k: v for k, v in os.environ.items() if k not in ("TURNOUT_ADMIN_TOKENS", "REDIS_URL")
        }
        command = [
            sys.executable,
            "-m",
            "turnout.cli",
            "up",
            "--demo",
            "--port",
            str(self.port),
            "--admin-port",
            str(self.admin_port),
            "--sim-port",
            str(self.sim_port),
            "--data-dir",
            str(self.data_dir),
        ]
        self.process = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> tuple[int, str]:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=10)
        return self.process.returncode, out

    def run_to_end(self) -> tuple[int, str]:
        """For a process that is expected to refuse to start: (exit code, stderr)."""
        assert self.process is not None
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, err


async def admin_ready(http, up) -> None:
    async def answers() -> bool:
        try:
            async with http.get(f"http://127.0.0.1:{up.admin_port}/admin/openapi.json") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await wait_for(answers, timeout_s=20, step_s=0.05)


async def test_up_runs_the_admin_api_beside_the_gateway(tmp_path, http):
    up = Up(tmp_path / "data")
    up.start()
    try:
        await admin_ready(http, up)
        token_file = tmp_path / "data" / "admin-token"
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        auth = {"Authorization": f"Bearer {token}"}
        admin = f"http://127.0.0.1:{up.admin_port}/admin"
        async with http.get(f"{admin}/routes/demo", headers=auth) as response:
            route = await response.json()
        assert route["weights"] == {"r1": 100, "r2": 0}

        data = tmp_path / "data"
        socket_inode = (data / "redis" / "redis.sock").stat().st_ino
        kept = {name: (data / name).read_bytes() for name in ("admin-token", "turnout.lock")}
        second = Up(data)  # same data dir, other ports
        second.start()
        code, err = second.run_to_end()
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert f"data dir {up.data_dir} is in use by turnout up (pid {up.process.pid};" in err
        assert f"admin {up.admin_port}" in err and f"simulator {up.sim_port}" in err
        # the first instance's Redis socket and files are untouched, its lock still names it
        assert (data / "redis" / "redis.sock").stat().st_ino == socket_inode
        assert {name: (data / name).read_bytes() for name in kept} == kept
        assert sorted(p.name for p in (data / "redis").iterdir()) == [
            "appendonlydir",
            "redis.log",
            "redis.sock",
        ]

        body = {"weights": {"r2": 100}, "expected_revision": route["revision"], "reason": "demo"}
        async with http.put(f"{admin}/routes/demo/weights", json=body, headers=auth) as response:
            assert response.status == 200

        async def serves_r2() -> bool:
            chat = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
            url = f"http://127.0.0.1:{up.port}/v1/chat/completions"
            async with http.post(url, json=chat) as response:
                return response.headers.get("X-Turnout-Release") == "r2"

        await wait_for(serves_r2, timeout_s=2)
    finally:
        code, out = up.stop()
    assert code == 0
    assert out.count(token) == 1 and "shown once" in out
    assert "demo: r1 at 100%, r2 at 0% (stable r1, revision 2)" in out
    token_path = up.data_dir / "admin-token"
    assert f"export TURNOUT_ADMIN_URL=http://127.0.0.1:{up.admin_port} " in out
    assert f'TURNOUT_ADMIN_TOKEN="$(cat {token_path})"' in out
    assert f"Data dir         {up.data_dir}" in out

    again = Up(tmp_path / "data")
    again.start()
    try:
        await admin_ready(http, again)
        url = f"http://127.0.0.1:{again.admin_port}/admin/routes/demo"
        async with http.get(url, headers=auth) as response:
            kept = await response.json()
        assert kept["weights"] == {"r1": 0, "r2": 100}  # the demo route is kept as it was
    finally:
        code, out = again.stop()
    assert code == 0 and token not in out and "admin-token" in out
    # the banner says what was kept, not what the demo starts with
    assert "demo: r1 at 0%, r2 at 100% (stable r1, revision 3)" in out

"""Two `turnout control` replicas (real processes): one leads the rollout controller; killed
mid-rollout, the other takes over within the lease time and finishes the rollout with no step
repeated or skipped."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ADMIN_TOKENS, Admin, free_port, wait_for
from tests.control.conftest import Api
from tests.e2e.rollout_stack import ROUTE, Users, audit, seed, until_status

LEASE_MS = 1500
TICK_S = 0.2


class ControlProcess:
    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture
async def control_processes(tmp_path: Path) -> AsyncIterator[Any]:
    started: list[ControlProcess] = []

    async def start(redis_url: str) -> ControlProcess:
        port = free_port()
        env = {
            **os.environ,
            "TURNOUT_ADMIN_TOKENS": ",".join(
                f"{n}:{role}:{t}" for role, (n, t) in ADMIN_TOKENS.items()
            ),
            "TURNOUT_ROLLOUT_TICK_S": str(TICK_S),
            "TURNOUT_LEASE_MS": str(LEASE_MS),
            "TURNOUT_ROLLOUT_SETTLE_S": "0.5",
        }
        command = [sys.executable, "-m", "turnout.cli", "control", "--port", str(port)]
        command += ["--redis-url", redis_url, "--data-dir", str(tmp_path / f"c{len(started)}")]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        control = ControlProcess(port, process)
        started.append(control)
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                try:
                    async with session.get(
                        f"{control.url}/admin/controller", headers=Admin.auth("viewer")
                    ) as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(ready, timeout_s=15)
        return control

    yield start
    for control in started:
        if control.process.poll() is None:
            control.process.terminate()
            control.process.wait(timeout=10)


async def status_of(http: aiohttp.ClientSession, control: ControlProcess) -> dict[str, Any]:
    async with http.get(f"{control.url}/admin/controller", headers=Admin.auth("viewer")) as r:
        body: dict[str, Any] = await r.json()
        return body


@pytest.mark.slow
async def test_leader_killed_mid_rollout_the_other_finishes_without_double_or_skipped_steps(
    redis_server, control_processes, simulator, gateway_factory, http
):
    replicas = [await control_processes(redis_server.url) for _ in range(2)]

    async def one_leader() -> bool:
        leaders = [(await status_of(http, c))["leader"] for c in replicas]
        return leaders.count(True) == 1

    await wait_for(one_leader, timeout_s=10, step_s=0.05)
    statuses = [await status_of(http, c) for c in replicas]
    leader = replicas[[s["leader"] for s in statuses].index(True)]
    follower = replicas[1 - replicas.index(leader)]
    old_token = (await status_of(http, leader))["fencing_token"]

    class Remote:  # the Api helper against the follower (it survives)
        url = follower.url

    api = Api(http, Remote)  # type: ignore[arg-type]
    await seed(api, simulator)
    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.2)
    await wait_for(lambda: ROUTE in gateway.context.holder.table.routes)
    users = Users(http, gateway, rate=100, thumbs_down={"r1": 0.05, "r2": 0.05}).start()
    steps = [10, 20, 30, 40, 50, 100]
    guards = [{"metric": "thumbs_down_rate", "tau": 0.1, "margin": 0.2, "min_samples": 20}]
    body = {
        "release": "r2",
        "reason": "failover drill",
        "steps": steps,
        "min_bake_s": 0.8,
        "min_requests": 10,
        "max_step_s": 60,
        "guards": guards,
        "skip_gate": True,
    }
    try:
        await api.ok("POST", f"/admin/routes/{ROUTE}/rollouts", body, role="operator")

        seen: dict[str, Any] = {}

        async def at_step(index: int) -> bool:
            seen.update(await api.ok("GET", f"/admin/routes/{ROUTE}/rollouts", role="viewer"))
            assert seen["rollout"]["status"] in ("running", "holding"), seen["rollout"]
            return bool(seen["rollout"]["step"]["index"] >= index)

        try:
            await wait_for(lambda: at_step(2), timeout_s=30, step_s=0.05)
        except AssertionError:
            raise AssertionError(f"not at step 3: {seen['rollout']}") from None
        leader.kill()
        killed = time.monotonic()

        async def took_over() -> bool:
            return bool((await status_of(http, follower))["leader"])

        await wait_for(took_over, timeout_s=10, step_s=0.02)
        takeover_s = time.monotonic() - killed
        view = await until_status(api, {"completed", "rolled_back", "paused"}, timeout_s=40)
    finally:
        await users.stop()
    assert takeover_s <= LEASE_MS / 1000 + 2 * TICK_S + 0.5, takeover_s
    new_status = await status_of(http, follower)
    assert new_status["fencing_token"] > old_token
    assert new_status["tick_ms_p50"] is not None
    assert view["rollout"]["status"] == "completed", view["rollout"]["status_reason"]
    entries = [e for e in await audit(api) if e["action"].startswith("rollout.")]
    moves = [
        e for e in entries if e["action"] in ("rollout.start", "rollout.step", "rollout.promote")
    ]
    assert [e["after"]["weights"]["r2"] for e in moves] == steps  # each step once, in order
    revisions = [e["revision"] for e in moves]
    assert revisions == list(range(revisions[0], revisions[0] + len(steps)))
    cost = f"p50 {new_status['tick_ms_p50']} ms, max {new_status['tick_ms_max']} ms"
    print(f"takeover {takeover_s:.2f} s (lease {LEASE_MS} ms, tick {TICK_S} s); tick {cost}")
    await asyncio.sleep(0)

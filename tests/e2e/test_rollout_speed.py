"""Speed of the decision (a measurement, not part of the default run): with 200 calls/s on the
route, a 5% canary whose error rate is 10% against stable's 1% must be rolled back within 15 s
of its first call and after at most 150 canary calls. Defaults for everything else (telemetry
flush 1 s, a look per second, the params policy's guards).

    TURNOUT_MEASURE_ROLLOUT_RUNS=20 .venv/bin/pytest tests/e2e/test_rollout_speed.py -s
"""

import os
import statistics

import pytest

from tests.conftest import wait_for
from tests.control.conftest import Api
from tests.e2e.rollout_stack import ROUTE, Users, audit, behave, seed, until_status

RUNS = int(os.environ.get("TURNOUT_MEASURE_ROLLOUT_RUNS", "0"))


@pytest.mark.skipif(RUNS == 0, reason="a measurement: set TURNOUT_MEASURE_ROLLOUT_RUNS")
@pytest.mark.timeout(60 + 40 * RUNS)
async def test_rollback_speed_over_seeded_runs(
    redis_server, admin_factory, simulator, gateway_factory, http
):
    admin = await admin_factory(redis_server.url, controller=True)  # tick 1 s, defaults
    api = Api(http, admin)
    await seed(api, simulator)
    gateway = await gateway_factory(redis_server.url)  # flush every 1 s (the default)
    await wait_for(lambda: ROUTE in gateway.context.holder.table.routes)
    results: list[tuple[float, int]] = []
    for run in range(RUNS):
        simulator.state.rng.seed(run)
        behave(simulator, "sim-a", error_rate=0.01)
        behave(simulator, "sim-b", error_rate=0.10)
        users = Users(http, gateway, rate=200, thumbs_down={}, rated=0.0, seed=run).start()
        try:
            body = {
                "release": "r2",
                "reason": f"speed run {run}",
                "steps": [5, 25, 50, 100],
                "skip_gate": True,
            }
            await api.ok("POST", f"/admin/routes/{ROUTE}/rollouts", body, role="operator")
            view = await until_status(api, {"rolled_back", "paused", "completed"}, timeout_s=30)
        finally:
            await users.stop()
        assert view["rollout"]["status"] == "rolled_back", view["rollout"]["status_reason"]
        rollback = [e for e in await audit(api) if e["action"] == "rollout.rollback"][-1]
        decided_at = int(rollback["id"].split("-")[0]) / 1000
        seconds = decided_at - users.seen.first_wall["r2"]
        results.append((seconds, users.seen.calls["r2"]))
        print(f"run {run}: {seconds:.2f} s after the first canary call, "
              f"{users.seen.calls['r2']} canary calls; {rollback['reason']}")  # fmt: skip
    times = sorted(r[0] for r in results)
    calls = sorted(r[1] for r in results)
    print(
        f"{RUNS} runs: time to rollback median {statistics.median(times):.2f} s, "
        f"worst {times[-1]:.2f} s; canary calls median {statistics.median(calls):g}, "
        f"worst {calls[-1]}"
    )
    assert times[-1] <= 15 and calls[-1] <= 150

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


TICK_ROUTES = int(os.environ.get("TURNOUT_MEASURE_TICK_ROUTES", "0"))


@pytest.mark.skipif(TICK_ROUTES == 0, reason="a measurement: set TURNOUT_MEASURE_TICK_ROUTES")
async def test_tick_cost_over_many_running_rollouts(redis, redis_server, admin_factory, http):
    """One controller tick over N running rollouts whose routes hold a minute of telemetry."""
    import time

    from control.rollout.controller import Controller
    from control.store import Store
    from gateway.contract import telemetry as tk

    admin = await admin_factory(redis_server.url)  # no controller of its own: driven below
    api = Api(http, admin)
    await api.ok("PUT", "/admin/providers/sim", {"base_url": "http://127.0.0.1:9/v1"})
    for model in ("sim-a", "sim-b"):
        await api.ok("POST", f"/admin/models/{model}/versions", {"provider": "sim",
                     "upstream_model": model})  # fmt: skip
    minute = int(time.time()) // 60
    for index in range(TICK_ROUTES):
        name = f"route-{index}"
        await api.ok("POST", "/admin/routes", {"name": name, "release": {"model": "sim-a@1"}})
        await api.ok("POST", f"/admin/routes/{name}/releases", {"model": "sim-b@1"})
        body = {"release": "r2", "reason": "tick cost", "skip_gate": True, "min_bake_s": 3600}
        await api.ok("POST", f"/admin/routes/{name}/rollouts", body)
        fields = {}
        for release, share in (("r1", 950), ("r2", 50)):
            fields |= {f"{release}|n": share, f"{release}|o|ok": share, f"{release}|up": share // 2,
                       f"{release}|down": share // 20}  # fmt: skip
            fields |= {f"{release}|lat|{i}": share // 20 for i in range(20, 40)}
        await redis.hset(tk.minute_bucket(name, minute), mapping=fields)
    controller = Controller(Store(redis), tick_s=1.0, lease_ms=60_000, settle_s=0.0)
    for _ in range(23):  # the first looks take the step snapshots
        await controller.tick()
        await redis.hincrby(tk.minute_bucket("route-0", minute), "r2|n", 1)
    if os.environ.get("TURNOUT_PROFILE_TICK"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        await controller.tick()
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    status = controller.status()
    print(f"{TICK_ROUTES} running rollouts: tick p50 {status.tick_ms_p50} ms, "
          f"p99 {status.tick_ms_p99} ms, max {status.tick_ms_max} ms")  # fmt: skip
    assert status.rollouts == TICK_ROUTES

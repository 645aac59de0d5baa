"""A Redis restarted empty must not take traffic down: gateways keep their last known good
snapshot (and its file), report the loss, the control plane refuses changes with a 503 naming
the cause, and `turnout restore` brings everything back. Real redis-server processes throughout."""

import asyncio

import msgspec

from gateway.contract import keys
from tests.conftest import Admin, wait_for
from tests.control.conftest import Api, seed_route
from turnout.cli import main

ROUTE = "/admin/routes/support"


async def readiness(http, gateway):
    async with http.get(f"{gateway.url}/readyz") as response:
        return response.status, await response.json()


async def metric(http, gateway, name):
    async with http.get(f"{gateway.url}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[-1])
    raise AssertionError(f"{name} not exposed")


async def cli(admin, capsys, *argv):
    capsys.readouterr()
    flags = ["--admin-url", admin.url, "--token", Admin.token("admin")]
    code = await asyncio.to_thread(main, [*argv, *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class Traffic:
    """Calls both gateways back to back until stopped; counts every call that is not a 200."""

    def __init__(self, http, gateways):
        self.http, self.gateways = http, gateways
        self.served, self.failed, self.releases = 0, [], set()
        self._stop = False

    async def run(self):
        index = 0
        while not self._stop:
            gateway = self.gateways[index % len(self.gateways)]
            body = {
                "model": "support",
                "messages": [{"role": "user", "content": "hi"}],
                "user": f"user-{index}",
            }
            index += 1
            async with self.http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
                await response.read()
                self.served += 1
                if response.status != 200:
                    self.failed.append(response.status)
                else:
                    self.releases.add(response.headers["X-Turnout-Release"])

    def stop(self):
        self._stop = True


async def test_redis_restarted_empty_keeps_traffic_up_until_restore(
    api, admin, redis_server, simulator, gateway_factory, http, capsys
):
    route = await seed_route(api, simulator.url)
    body = {"weights": {"r1": 70, "r2": 30}, "expected_revision": route["revision"], "reason": "x"}
    flipped = await api.ok("PUT", f"{ROUTE}/weights", body)
    gateways = [await gateway_factory(redis_server.url, poll_interval_s=0.3) for _ in range(2)]
    for gateway in gateways:
        await wait_for(lambda g=gateway: _revision(g) == flipped["revision"], timeout_s=3)
    files = [g.context.settings.snapshot_file for g in gateways]
    saved = [f.read_bytes() for f in files]
    assert all(msgspec.json.decode(s)["epoch"]["id"] for s in saved)

    traffic = Traffic(http, gateways)
    load = asyncio.create_task(traffic.run())
    await asyncio.sleep(0.3)
    redis_server.kill()
    redis_server.start()  # empty: this server keeps nothing

    async def degraded():
        answers = [await readiness(http, g) for g in gateways]
        return all(body["status"] == "degraded" for _, body in answers)

    detected_s = await wait_for(degraded, timeout_s=5)
    await asyncio.sleep(1.0)  # several revision checks while Redis is empty
    for gateway, file, before in zip(gateways, files, saved, strict=True):
        status, ready = await readiness(http, gateway)
        assert status == 200 and ready["ready"] is True
        assert "gone from Redis" in ready["degraded"], ready
        assert ready["routes"] == {"support": flipped["revision"]}
        assert await metric(http, gateway, "turnout_redis_data_lost") == 1.0
        assert file.read_bytes() == before  # the last known good file is not overwritten

    # the control plane refuses changes, naming the cause; reads answer what is there
    status, error = await api.error("POST", f"{ROUTE}/rollback", {"reason": "incident"})
    assert status == 503 and error["code"] == "redis_data_lost"
    assert "Redis lost its data" in error["message"] and "turnout restore" in error["message"]
    status, error = await api.error("PUT", "/admin/providers/other", {"base_url": "http://a/v1"})
    assert status == 503 and error["code"] == "redis_data_lost"
    assert await api.ok("GET", "/admin/routes", role="viewer") == []

    code, out, err = await cli(admin, capsys, "restore", "--from", str(files[0]))
    assert code == 0, err
    assert "restored from snapshot: 1 route(s)" in out

    async def ready_again():
        answers = [await readiness(http, g) for g in gateways]
        return all(body["status"] == "ready" for _, body in answers)

    await wait_for(ready_again, timeout_s=5)
    restored = await api.ok("GET", ROUTE)
    assert restored["revision"] > flipped["revision"]  # above what gateways held
    assert restored["weights"] == {"r1": 70, "r2": 30}
    assert restored["stable"] == "r1"
    for gateway in gateways:
        await wait_for(lambda g=gateway: _revision(g) == restored["revision"], timeout_s=3)
        assert await metric(http, gateway, "turnout_redis_data_lost") == 0.0
    traffic.stop()
    await load
    print(
        f"\nRedis restarted empty: both gateways degraded after {detected_s * 1000:.0f} ms; "
        f"{traffic.served} calls through the loss and the restore, {len(traffic.failed)} failed"
    )
    assert traffic.served > 50
    assert traffic.failed == []
    assert traffic.releases == {"r1", "r2"}

    # changes are accepted again, and reach the gateways
    body = {"weights": {"r1": 0, "r2": 100}, "expected_revision": restored["revision"]}
    moved = await api.ok("PUT", f"{ROUTE}/weights", {**body, "reason": "after restore"})
    for gateway in gateways:
        await wait_for(lambda g=gateway: _revision(g) == moved["revision"], timeout_s=3)

    def saved_revision():
        return msgspec.json.decode(files[0].read_bytes())["routes"]["support"]["state"]["revision"]

    await wait_for(lambda: saved_revision() == moved["revision"])  # the file follows again
    actions = [e["action"] for e in await api.ok("GET", "/admin/audit?route=support")]
    assert actions[-2:] == ["route.restore", "route.flip"]


def _revision(gateway):
    route = gateway.context.holder.table.routes.get("support")
    return route.revision if route else 0


async def test_a_fresh_empty_redis_is_not_data_loss(
    redis, redis_server, admin_factory, simulator, gateway_factory, http
):
    gateway = await gateway_factory(redis_server.url, poll_interval_s=0.3)  # no file, empty Redis
    admin = await admin_factory(redis_server.url)
    epoch = msgspec.json.decode(await redis.get(keys.EPOCH))
    assert epoch["id"] and epoch["restored_at"] is None
    route = await seed_route(Api(http, admin), simulator.url)
    await wait_for(lambda: _revision(gateway) == route["revision"], timeout_s=3)
    await wait_for(lambda: gateway.context.holder.table.snapshot.epoch is not None, timeout_s=3)
    status, ready = await readiness(http, gateway)
    assert (status, ready["status"], ready["degraded"]) == (200, "ready", None)
    assert await metric(http, gateway, "turnout_redis_data_lost") == 0.0
    assert not await redis.exists(keys.DATA_LOST)
    file = gateway.context.settings.snapshot_file
    await wait_for(
        lambda: (
            file.exists()
            and (msgspec.json.decode(file.read_bytes())["epoch"] or {}).get("id") == epoch["id"]
        )
    )


async def test_an_absent_route_is_kept_and_only_an_audited_delete_removes_it(
    api, redis, redis_server, simulator, gateway_factory, http
):
    await seed_route(api, simulator.url)
    await api.ok("POST", "/admin/routes", {"name": "other", "release": {"model": "sim-chat@1"}})
    gateway = await gateway_factory(redis_server.url, poll_interval_s=0.3)
    assert set(gateway.context.holder.table.routes) == {"support", "other"}

    # a route whose records vanish without a deletion keeps being served
    await redis.delete(keys.route_state("other"), keys.route_releases("other"))
    await redis.publish(keys.CHANGES_CHANNEL, b'{"type":"route","route":"other","revision":9}')
    await asyncio.sleep(1.0)  # an event and several revision checks
    assert "other" in gateway.context.holder.table.routes

    status, error = await api.error("DELETE", f"{ROUTE}", {"reason": "retired"}, role="operator")
    assert status == 403
    status, error = await api.error("DELETE", "/admin/routes/nope", {"reason": "x"})
    assert status == 404 and error["field"] == "route"
    deleted = await api.ok("DELETE", ROUTE, {"reason": "retired"})
    assert deleted == {
        "route": "support",
        "deleted": True,
        "revision": 2,
        "closed_reviews": [],
        "removed_windows": [],
        "removed_webhooks": [],
    }
    await wait_for(lambda: "support" not in gateway.context.holder.table.routes, timeout_s=2)
    body = {"model": "support", "messages": [{"role": "user", "content": "x"}]}
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
        assert response.status == 404
    [entry] = [
        e for e in await api.ok("GET", "/admin/audit?route=support") if e["reason"] == "retired"
    ]
    assert (entry["action"], entry["actor"], entry["after"]) == ("route.delete", "alice", None)
    assert await api.ok("GET", "/admin/routes") == []  # "other" has no state either

    file = gateway.context.settings.snapshot_file  # saved off the event loop, just after
    await wait_for(lambda: "support" not in msgspec.json.decode(file.read_bytes())["routes"])
    assert "other" in msgspec.json.decode(file.read_bytes())["routes"]

    # a gateway that missed the event drops the route at its revision check
    await seed_route(api, simulator.url, route="again")
    missed = await gateway_factory(redis_server.url, poll_interval_s=0.3)
    await redis.delete(keys.route_state("again"))
    await redis.hset(keys.DELETED_ROUTES, "again", b'{"deleted_at":1.0,"actor":"a","reason":"r"}')
    await wait_for(lambda: "again" not in missed.context.holder.table.routes, timeout_s=3)


async def test_a_gateway_started_on_an_empty_redis_keeps_its_file(
    api, admin_factory, redis, redis_server, simulator, gateway_factory, http, tmp_path
):
    route = await seed_route(api, simulator.url)
    data_dir = str(tmp_path / "kept")
    first = await gateway_factory(redis_server.url, data_dir=data_dir)
    file = first.context.settings.snapshot_file

    def saved_revision():
        return file.exists() and msgspec.json.decode(file.read_bytes())["routes"].get("support")

    await wait_for(lambda: _revision(first) == route["revision"], timeout_s=3)
    await wait_for(lambda: bool(saved_revision()), timeout_s=3)
    await first.stop()
    saved = file.read_bytes()
    redis_server.kill()
    redis_server.start()  # empty
    await admin_factory(redis_server.url)  # a control plane started now initialises an epoch
    assert await redis.exists(keys.EPOCH)

    second = await gateway_factory(redis_server.url, data_dir=data_dir, poll_interval_s=0.3)
    status, ready = await readiness(http, second)
    assert (status, ready["status"], ready["source"]) == (200, "degraded", "file")
    assert ready["degraded"].startswith("the data epoch changed from"), ready
    body = {"model": "support", "messages": [{"role": "user", "content": "x"}]}
    async with http.post(f"{second.url}/v1/chat/completions", json=body) as response:
        assert response.status == 200
    await asyncio.sleep(0.8)
    assert file.read_bytes() == saved
    marker = {k.decode(): v.decode() for k, v in (await redis.hgetall(keys.DATA_LOST)).items()}
    assert marker["reason"].startswith("the data epoch") and marker["detected_by"]
    assert marker[next(k for k in marker if k.startswith("revision:support:"))] == "2"


async def test_restoring_an_older_export_numbers_above_what_gateways_serve(
    api, admin, admin_factory, redis, redis_server, simulator, gateway_factory, http, caplog
):
    route = await seed_route(api, simulator.url)
    old = await api.ok("GET", "/admin/export")
    revision = route["revision"]
    for weights in ({"r1": 50, "r2": 50}, {"r1": 20, "r2": 80}):
        body = {"weights": weights, "expected_revision": revision, "reason": "step"}
        revision = (await api.ok("PUT", f"{ROUTE}/weights", body))["revision"]
    await api.ok("POST", "/admin/routes", {"name": "late", "release": {"model": "sim-chat@1"}})
    gateway = await gateway_factory(redis_server.url, poll_interval_s=0.2)
    await wait_for(lambda: _revision(gateway) == revision, timeout_s=3)

    redis_server.kill()
    redis_server.start()  # empty
    await wait_for(lambda: gateway.context.holder.data_lost is not None, timeout_s=5)
    await asyncio.sleep(1.0)  # five revision checks: still one log line
    lost_lines = [r for r in caplog.records if r.getMessage().startswith("Redis lost its data")]
    assert len(lost_lines) == 1
    # a control plane started now knows too, from the marker the gateway left
    later = await admin_factory(redis_server.url)
    async with http.post(
        f"{later.url}/admin/routes/support/pin", json={"reason": "x"}, headers=Admin.auth()
    ) as response:
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "redis_data_lost"

    answer = await api.ok("POST", "/admin/restore", {"export": old, "reason": "older backup"})
    assert answer["routes"] == {"support": revision + 1}  # above what the gateway reported
    assert "gone from Redis" in answer["was_lost"]
    await wait_for(lambda: _revision(gateway) == revision + 1, timeout_s=3)
    assert gateway.context.holder.data_lost is None
    served = gateway.context.holder.table.routes["support"].snapshot.state
    assert served.weights_bp == {"r1": 10_000}  # as the export had it
    # a route the backup lacks is still served (no deletion), and reported as such
    status, ready = await readiness(http, gateway)
    assert status == 200 and "late" in gateway.context.holder.table.routes
    assert (ready["status"], ready["unconfirmed"]) == ("ready", ["late"])
    recovered = [r for r in caplog.records if "epoch is back" in r.getMessage()]
    assert len(recovered) == 1

"""`turnout export` and `turnout restore`: a round trip through a wiped Redis gives the same
registry back (revisions above the old ones), a restore over live data needs --force, and the
control plane answers 503 naming Redis while Redis is down, then retries a dead pooled
connection so the first rollback after a Redis restart succeeds."""

import asyncio

import msgspec

from tests.conftest import Admin
from tests.control.conftest import Api, seed_route
from turnout.cli import main

ROUTE = "/admin/routes/support"


async def cli(admin, capsys, *argv):
    capsys.readouterr()
    flags = ["--admin-url", admin.url, "--token", Admin.token("admin")]
    code = await asyncio.to_thread(main, [*argv, *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def without_revisions(export):
    routes = {}
    for name, route in export["routes"].items():
        state = dict(route["state"])
        state.pop("revision")
        routes[name] = {**route, "state": state}
    return {**export, "routes": routes, "exported_at": None, "audit": None, "epoch": None}


async def test_export_wipe_restore_round_trip(api, admin, redis, redis_server, capsys, tmp_path):
    route = await seed_route(api, "http://127.0.0.1:9/v1", systems=("A {{x}}.", "B.", "C."))
    body = {"weights": {"r1": 80, "r2": 15, "r3": 5}, "expected_revision": route["revision"]}
    await api.ok("PUT", f"{ROUTE}/weights", {**body, "reason": "canary"})
    await api.ok("POST", f"{ROUTE}/pin", {"reason": "hold"})
    await api.ok("POST", "/admin/routes", {"name": "two", "release": {"model": "sim-chat@1"}})
    backup = tmp_path / "registry.json"
    code, _, err = await cli(admin, capsys, "export", "--out", str(backup), "--audit")
    assert code == 0 and "exported 2 route(s), 1 provider(s), 3 prompt version(s)" in err
    before = msgspec.json.decode(backup.read_bytes())
    assert [e["action"] for e in before["audit"]][-2:] == ["route.pin", "route.create"]

    redis_server.kill()
    redis_server.start()  # wiped
    status, error = await api.error("POST", "/admin/prompts/p/versions", {"system": "x"})
    assert status == 503 and error["code"] == "redis_data_lost"

    code, out, err = await cli(admin, capsys, "restore", "--from", str(backup))
    assert code == 0, err
    assert "Redis had lost its data" in out and "restored from export: 2 route(s)" in out
    after = await api.ok("GET", "/admin/export")
    assert without_revisions(after) == without_revisions(before)
    assert after["epoch"]["id"] == before["epoch"]["id"] and after["epoch"]["restored_at"]
    for name, restored in after["routes"].items():
        assert restored["state"]["revision"] == before["routes"][name]["state"]["revision"] + 1
    # the registry works as before: identical content gives the existing version back
    again = await api.call("POST", "/admin/prompts/support/versions", {"system": "B."})
    assert again[0] == 200 and again[1]["version"] == 2
    fresh = await api.ok("POST", "/admin/prompts/support/versions", {"system": "D."})
    assert fresh["version"] == 4


async def test_restore_over_live_data_needs_force(api, admin, redis, capsys, tmp_path):
    await seed_route(api, "http://127.0.0.1:9/v1")
    backup = tmp_path / "registry.json"
    assert (await cli(admin, capsys, "export", "--out", str(backup)))[0] == 0
    code, _, err = await cli(admin, capsys, "restore", "--from", str(backup))
    assert code == 1 and "pass force" in err
    code, out, _ = await cli(admin, capsys, "restore", "--from", str(backup), "--force")
    assert code == 0 and "support@3" in out  # revision 2 + 1
    code, out, _ = await cli(admin, capsys, "rollback", "support", "--reason", "x")
    assert (code, out) == (0, "support: nothing to do: all traffic is already on r1 (revision 3)\n")
    code, out, _ = await cli(admin, capsys, "route", "delete", "support", "--reason", "retired")
    assert (code, out) == (0, "deleted route support (last revision 3)\n")
    code, out, _ = await cli(admin, capsys, "audit", "--route", "support")
    assert out.splitlines()[-1].split()[2:6] == ["support", "route.delete", "alice", "3"]
    assert out.splitlines()[-1].split()[6:] == ["deleted", "retired"]
    status, error = await api.error("POST", "/admin/restore", {"reason": "x"})
    assert status == 400 and "exactly one of" in error["message"]
    status, error = await api.error(
        "POST", "/admin/restore", {"reason": "x", "snapshot": {"routes": {}}}
    )
    assert status == 400
    damaged = msgspec.json.decode(backup.read_bytes())
    damaged["routes"]["support"]["state"]["weights_bp"] = {"r1": 9000}
    status, error = await api.error(
        "POST", "/admin/restore", {"reason": "x", "export": damaged, "force": True}
    )
    assert status == 400 and error["field"] == "export.routes.support"
    assert "sum to 10000" in error["message"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    code, _, err = await cli(admin, capsys, "restore", "--from", str(bad))
    assert code == 2 and "neither a `turnout export` file nor a gateway's snapshot.json" in err
    status, _ = await api.call("POST", "/admin/restore", {"reason": "x"}, role="operator")
    assert status == 403
    status, _ = await api.call("GET", "/admin/export", role="operator")
    assert status == 403


async def test_control_plane_on_a_failing_redis(persistent_redis_server, admin_factory, http):
    admin = await admin_factory(persistent_redis_server.url)
    api = Api(http, admin)
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    body = {"weights": {"r1": 50, "r2": 50}, "expected_revision": route["revision"]}
    flipped = await api.ok("PUT", f"{ROUTE}/weights", {**body, "reason": "canary"})
    # several pooled connections, all of which a restart leaves dead
    await asyncio.gather(*(api.ok("GET", ROUTE) for _ in range(5)))

    persistent_redis_server.stop()
    for method, path, payload in (
        ("GET", "/admin/routes", None),
        ("POST", f"{ROUTE}/rollback", {"reason": "incident"}),
    ):
        status, error = await api.error(method, path, payload)
        assert status == 503 and error["code"] == "redis_unavailable", error
        assert error["message"].startswith("Redis is unavailable (ConnectionError")

    persistent_redis_server.start()  # with its data (append-only file)
    back = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "incident"}, role="operator")
    assert (back["changed"], back["revision"]) == (True, flipped["revision"] + 1)
    assert back["weights"] == {"r1": 100, "r2": 0}

    persistent_redis_server.stop()
    persistent_redis_server.start()
    for _ in range(6):  # every dead pooled connection is retried on a fresh one
        assert (await api.ok("GET", ROUTE))["revision"] == back["revision"]
    entries = await api.ok("GET", "/admin/audit?route=support")
    assert [e["action"] for e in entries].count("route.rollback") == 1


class ReplyDroppingProxy:
    """A TCP proxy to Redis that, once armed, forwards the next EVALSHA to Redis and then drops
    that connection instead of passing the reply back: the change ran, the caller cannot know."""

    def __init__(self, redis_port):
        self.redis_port = redis_port
        self.armed = False
        self.dropped = 0
        self.handlers = set()

    async def start(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def _serve(self, client_reader, client_writer):
        self.handlers.add(asyncio.current_task())
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.redis_port
        )
        doomed = asyncio.Event()

        async def requests():
            while data := await client_reader.read(65536):
                if self.armed and b"EVALSHA" in data:
                    self.armed = False
                    doomed.set()
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def replies():
            while data := await upstream_reader.read(65536):
                if doomed.is_set():
                    self.dropped += 1
                    break
                client_writer.write(data)
                await client_writer.drain()

        tasks = [asyncio.create_task(requests()), asyncio.create_task(replies())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in (client_writer, upstream_writer):
                writer.close()
                await asyncio.gather(writer.wait_closed(), return_exceptions=True)
            self.handlers.discard(asyncio.current_task())

    async def stop(self):
        self.server.close()
        for handler in list(self.handlers):
            handler.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()


async def test_a_change_whose_reply_was_lost_is_not_applied_twice(
    redis_server, admin_factory, http
):
    proxy = ReplyDroppingProxy(redis_server.server.port)
    admin = await admin_factory(await proxy.start())
    api = Api(http, admin)
    try:
        route = await seed_route(api, "http://127.0.0.1:9/v1", systems=("A.", "B.", "C."))
        body = {"weights": {"r1": 90, "r2": 10}, "expected_revision": route["revision"]}
        proxy.armed = True
        flipped = await api.ok("PUT", f"{ROUTE}/weights", {**body, "reason": "canary"})
        assert proxy.dropped == 1  # the first attempt ran, its reply never arrived
        assert flipped["revision"] == route["revision"] + 1
        assert flipped["weights"] == {"r1": 90, "r2": 10, "r3": 0}

        proxy.armed = True  # a release created without expected_revision: planned again
        created = await api.ok(
            "POST", f"{ROUTE}/releases", {"prompt": "support@1", "model": "sim-chat@1"}
        )
        assert proxy.dropped == 2 and created["release"]["id"] == "r4"
        after = await api.ok("GET", ROUTE)
        assert [r["id"] for r in after["releases"]] == ["r1", "r2", "r3", "r4"]  # not r5
        actions = [e["action"] for e in await api.ok("GET", "/admin/audit?route=support")]
        assert actions.count("route.flip") == 1 and actions[-1] == "release.create"
        assert actions.count("release.create") == 3
    finally:
        await proxy.stop()

"""A Redis Cluster losing a master while calls flow: no call fails, flips still reach the
gateway, and telemetry counts stay exact where no write was lost. Also: each route's keys stay
in one slot while routes spread over the masters."""

import asyncio
from typing import Any

import pytest

from gateway.contract import keys
from gateway.contract import telemetry as tk
from gateway.contract.redis_url import RedisUrlError, connect
from tests.conftest import wait_for
from tests.control.conftest import Api, seed_route

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


class Traffic:
    """Concurrent callers through one gateway until stopped; every status is kept."""

    def __init__(self, http: Any, gateway_url: str, route: str, callers: int = 4) -> None:
        self.statuses: list[int] = []
        self._stop = asyncio.Event()
        body = {"model": route, **CHAT}

        async def caller() -> None:
            while not self._stop.is_set():
                async with http.post(f"{gateway_url}/v1/chat/completions", json=body) as reply:
                    await reply.read()
                    self.statuses.append(reply.status)
                await asyncio.sleep(0.002)

        self._tasks = [asyncio.create_task(caller()) for _ in range(callers)]

    async def stop(self) -> list[int]:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.statuses


async def _flip_to_r2(api: Api, route: str) -> int:
    current = await api.ok("GET", f"/admin/routes/{route}")
    body = {"weights": {"r1": 0, "r2": 100}, "expected_revision": current["revision"],
            "reason": "failover test"}  # fmt: skip
    revision: int = (await api.ok("PUT", f"/admin/routes/{route}/weights", body))["revision"]
    return revision


def _route_avoiding(cluster: Any, master: Any) -> str:
    """A route name whose slot another master serves."""
    return next(
        name for name in (f"bot-{i}" for i in range(100))
        if cluster.master_of(keys.route_state(name)) is not master
    )  # fmt: skip


async def _counted(api: Api, route: str) -> int:
    data = await api.ok("GET", f"/admin/routes/{route}/stats?window=5m", role="viewer")
    return sum(release["requests"] for release in data["releases"])


@pytest.mark.slow
async def test_manual_failover_of_the_routes_master_during_traffic(
    replicated_cluster, simulator, gateway_factory, admin_factory, http
):
    cluster = replicated_cluster
    api = Api(http, await admin_factory(cluster.url))
    await seed_route(api, simulator.url, route="support")
    gateway = await gateway_factory(cluster.url, flush_interval_s=0.1)
    await wait_for(lambda: "support" in gateway.context.holder.table.routes)
    traffic = Traffic(http, gateway.url, "support")
    await asyncio.sleep(0.3)
    master = cluster.master_of(keys.route_state("support"))  # its state, audit and telemetry
    replica = cluster.replica_of(master)
    promote = replica.client()
    promote.execute_command("CLUSTER FAILOVER")  # graceful: the replica catches up first
    promote.close()
    await wait_for(lambda: cluster.master_of(keys.route_state("support")) is replica, timeout_s=10)
    revision = await _flip_to_r2(api, "support")  # written to the new master
    await wait_for(lambda: gateway.context.holder.table.routes["support"].revision == revision)
    await asyncio.sleep(0.3)
    statuses = await traffic.stop()
    assert len(statuses) > 50 and set(statuses) == {200}
    await wait_for(lambda: _equals(_counted(api, "support"), len(statuses)), timeout_s=10)


async def _equals(value: Any, expected: int) -> bool:
    return await value == expected


@pytest.mark.slow
async def test_killed_master_of_the_change_channel_during_traffic(
    replicated_cluster, simulator, gateway_factory, admin_factory, http
):
    """The gateway's subscription is on the master serving the channel's slot; SIGKILL it.
    With the revision poll 30 s away, the next flip must arrive by the re-made subscription."""
    cluster = replicated_cluster
    channel_master = cluster.master_of(keys.CHANGES_CHANNEL)
    route = _route_avoiding(cluster, channel_master)  # its writes are not lost with the master
    api = Api(http, await admin_factory(cluster.url))
    await seed_route(api, simulator.url, route=route)
    gateway = await gateway_factory(cluster.url, flush_interval_s=0.1, poll_interval_s=30)
    await wait_for(lambda: route in gateway.context.holder.table.routes)
    traffic = Traffic(http, gateway.url, route)
    await asyncio.sleep(0.3)
    channel_master.kill()
    promoted = cluster.replica_of(channel_master)
    await wait_for(lambda: cluster.master_of(keys.CHANGES_CHANNEL) is promoted, timeout_s=15)
    revision = await _flip_to_r2(api, route)
    await wait_for(
        lambda: gateway.context.holder.table.routes[route].revision == revision, timeout_s=8
    )
    await asyncio.sleep(0.3)
    statuses = await traffic.stop()
    assert len(statuses) > 50 and set(statuses) == {200}
    await wait_for(lambda: _equals(_counted(api, route), len(statuses)), timeout_s=10)


async def test_each_route_is_one_slot_and_routes_spread_over_the_masters(
    redis_server, api, simulator
):
    cluster = redis_server
    await seed_route(api, simulator.url, route="support")
    masters = set()
    for index in range(12):
        name = f"route-{index}"
        await api.ok("POST", "/admin/routes", {"name": name, "release": {"model": "sim-chat@1"}})
        route_keys = [keys.route_state(name), keys.route_releases(name), keys.route_audit(name),
                      tk.minute_bucket(name, 1), tk.feedback_record(name, "call")]  # fmt: skip
        serving = {cluster.master_of(key).port for key in route_keys}
        assert len(serving) == 1  # the scripts' keys share a slot
        masters |= serving
    assert len(masters) == 3  # and the cluster really spreads routes over its masters


@pytest.mark.parametrize(
    "url", ["redis+cluster://127.0.0.1:7000/1", "redis+cluster://nohostport", "redis+cluster://"]
)
def test_malformed_cluster_urls_are_refused(url):
    with pytest.raises(RedisUrlError):
        connect(url)

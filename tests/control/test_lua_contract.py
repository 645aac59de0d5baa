"""The Lua scripts against the contract: events byte-identical to msgspec's, blobs the gateway
decodes, one hash slot per script call, and validation that holds even for a buggy caller."""

import asyncio

import msgspec
import pytest
from redis.crc import key_slot

from control import keyspace
from control.store import Store
from gateway.contract import keys
from gateway.contract.events import ProvidersChanged, RouteChanged, event_encoder
from gateway.contract.snapshot import RouteState
from gateway.sync import read_providers, read_route
from tests.control.conftest import redis_contents, seed_route


async def next_message(pubsub):
    for _ in range(200):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None:
            return message["data"]
    raise AssertionError("no change event published")


async def test_events_are_byte_identical_to_msgspec(api, redis):
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.CHANGES_CHANNEL)
    await api.ok("PUT", "/admin/providers/sim", {"base_url": "http://127.0.0.1:9/v1"})
    assert await next_message(pubsub) == event_encoder.encode(ProvidersChanged())
    await api.ok("POST", "/admin/models/m/versions", {"provider": "sim", "upstream_model": "x"})
    body = {"name": "my-route.v2_x", "release": {"model": "m@1"}}
    await api.ok("POST", "/admin/routes", body)
    expected = event_encoder.encode(RouteChanged(route="my-route.v2_x", revision=1))
    assert await next_message(pubsub) == expected
    await pubsub.aclose()


async def test_stored_blobs_decode_as_the_gateway_reads_them(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1")
    body = {"weights": {"r1": 33.33, "r2": 66.67}, "expected_revision": 2, "reason": "x"}
    await api.ok("PUT", "/admin/routes/support/weights", body)
    route = await read_route(redis, "support")
    assert route is not None
    assert route.state.weights_bp == {"r1": 3333, "r2": 6667}
    assert route.releases["r2"].prompt.ref == "support@2"
    assert route.releases["r1"].model.params == {"temperature": 0.2}
    assert route.releases["r1"].prompt.messages == []  # an empty array stays an array
    assert (await read_providers(redis, {}))["sim"].timeout_s == 10.0


def test_each_script_touches_one_hash_slot():
    for name in ("support", "a", "x.y-z_1"):
        route_keys = [
            keys.route_state(name),
            keys.route_releases(name),
            keyspace.release_meta(name),
            keys.route_audit(name),
        ]
        assert len({key_slot(k.encode()) for k in route_keys}) == 1
        for kind in ("prompt", "model"):
            pair = [keyspace.versions(kind, name), keyspace.content_index(kind, name)]
            assert len({key_slot(k.encode()) for k in pair}) == 1
    providers = [keys.PROVIDERS, keyspace.PROVIDERS_AUDIT]
    assert len({key_slot(k.encode()) for k in providers}) == 1


def state(revision, weights, stable="r1"):
    return RouteState(name="support", revision=revision, stable=stable, weights_bp=weights)


@pytest.mark.parametrize(
    ("expected", "new", "status", "field"),
    [
        (2, state(3, {"r1": 9000}), "invalid", "weights"),
        (2, state(3, {"r1": 9000, "r9": 1000}), "invalid", "weights.r9"),
        (2, state(3, {"r1": 10_000}, stable="r9"), "invalid", "stable"),
        (2, state(5, {"r1": 10_000}), "invalid", "revision"),
        (1, state(2, {"r1": 10_000}), "conflict", None),
        (0, state(1, {"r1": 10_000}), "conflict", None),
    ],
)
async def test_the_script_refuses_invalid_changes_and_writes_nothing(
    api, redis, expected, new, status, field
):
    await seed_route(api, "http://127.0.0.1:9/v1")
    before = await redis_contents(redis)
    outcome = await Store(redis).commit_route(expected, new, action="t", actor="t", reason="t")
    assert (outcome.status, outcome.field) == (status, field)
    assert await redis_contents(redis) == before


async def test_concurrent_commits_on_one_revision_one_lands(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1")
    store = Store(redis)
    outcomes = await asyncio.gather(
        *(
            store.commit_route(
                2, state(3, {"r1": 10_000 - i, "r2": i}), action="t", actor=str(i), reason="t"
            )
            for i in range(10)
        )
    )
    assert sorted(o.status for o in outcomes) == ["conflict"] * 9 + ["ok"]
    entries = await redis.xrange(keys.route_audit("support"))
    assert [e[1][b"revision"] for e in entries].count(b"3") == 1
    stored = msgspec.json.decode(await redis.get(keys.route_state("support")), type=RouteState)
    winner = next(i for i, o in enumerate(outcomes) if o.status == "ok")
    assert stored.weights_bp == {"r1": 10_000 - winner, "r2": winner}

"""Weighted, sticky release choice: split accuracy, stickiness, monotonic ramps."""

import random

from gateway.contract.bucketing import cumulative_bounds, release_for_bucket, sticky_bucket
from gateway.contract.snapshot import RouteSnapshot, Snapshot
from gateway.routing import RoutingTable
from gateway.telemetry.recorder import Recorder
from gateway.upstream.client import UpstreamClient
from tests import builders
from tests.conftest import publish_route

KEYS = [f"user-{i}" for i in range(10_000)]


def route_table(weights, sticky=True):
    releases = {r: builders.release(r) for r in weights}
    snapshot = Snapshot(
        routes={
            "bot": RouteSnapshot(
                state=builders.state("bot", weights, sticky=sticky), releases=releases
            )
        },
        providers={"sim": builders.provider("http://127.0.0.1:9/v1")},
    )
    return RoutingTable(snapshot, Recorder(), UpstreamClient()).routes["bot"]


def assignment(weights):
    route = route_table(weights)
    rng = random.Random(0)
    return {key: route.pick(key, rng).id for key in KEYS}


def test_split_of_10000_keys_is_within_1_5_points():
    chosen = assignment({"r1": 90, "r2": 10})
    canary_share = sum(1 for r in chosen.values() if r == "r2") / len(KEYS) * 100
    assert abs(canary_share - 10) <= 1.5


def test_a_key_always_gets_the_same_release():
    route = route_table({"r1": 50, "r2": 50})
    rng = random.Random(1)
    for key in KEYS[:500]:
        first = route.pick(key, rng).id
        assert all(route.pick(key, rng).id == first for _ in range(5))


def test_raising_the_canary_keeps_everyone_already_on_it():
    before = assignment({"r1": 90, "r2": 10})
    after = assignment({"r1": 70, "r2": 30})
    on_canary = [k for k, r in before.items() if r == "r2"]
    assert on_canary
    assert all(after[k] == "r2" for k in on_canary)
    share = sum(1 for r in after.values() if r == "r2") / len(KEYS) * 100
    assert abs(share - 30) <= 1.5


def test_lowering_the_canary_moves_only_users_above_the_boundary():
    before = assignment({"r1": 70, "r2": 30})
    after = assignment({"r1": 95, "r2": 5})
    moved = [k for k in KEYS if before[k] != after[k]]
    assert all(before[k] == "r2" and after[k] == "r1" for k in moved)
    assert all(sticky_bucket("bot", k) >= 500 for k in moved)


def test_zero_weight_release_is_never_picked_without_a_pin():
    route = route_table({"r1": 100, "r2": 0})
    rng = random.Random(2)
    assert {route.pick(key, rng).id for key in KEYS[:2000]} == {"r1"}
    assert {route.pick(None, rng).id for _ in range(2000)} == {"r1"}


def test_without_a_key_the_choice_is_random_per_call():
    route = route_table({"r1": 50, "r2": 50})
    rng = random.Random(3)
    picks = [route.pick(None, rng).id for _ in range(4000)]
    assert 0.45 < picks.count("r2") / len(picks) < 0.55


def test_non_sticky_route_ignores_the_key():
    route = route_table({"r1": 50, "r2": 50}, sticky=False)
    rng = random.Random(4)
    assert len({route.pick("same-user", rng).id for _ in range(200)}) == 2


def test_bucket_boundaries_follow_interval_order():
    bounds, order = cumulative_bounds({"r1": 7000, "r2": 2000, "r3": 1000}, "r1")
    assert order == ["r2", "r1", "r3"]  # even canaries from the bottom, odd ones from the top
    assert bounds == [2000, 9000, 10000]
    assert release_for_bucket(bounds, order, 0) == "r2"
    assert release_for_bucket(bounds, order, 1999) == "r2"
    assert release_for_bucket(bounds, order, 2000) == "r1"
    assert release_for_bucket(bounds, order, 9000) == "r3"
    assert release_for_bucket(bounds, order, 9999) == "r3"


def test_moving_one_canary_leaves_the_other_canarys_users_alone():
    before = assignment({"r1": 80, "r2": 10, "r3": 10})
    after = assignment({"r1": 70, "r2": 20, "r3": 10})
    assert {k for k, r in before.items() if r == "r3"} == {k for k, r in after.items() if r == "r3"}


async def test_gateway_honours_user_field_and_sticky_header(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish_route(
        redis,
        simulator,
        builders.state("bot", {"r1": 50, "r2": 50}),
        [builders.release("r1"), builders.release("r2")],
    )
    gateway = await gateway_factory(redis_server.url)
    route = gateway.context.holder.table.routes["bot"]
    for key in KEYS[:60]:
        expected = release_for_bucket(route.bounds, route.order, sticky_bucket("bot", key)).id
        body = {"model": "bot", "messages": [{"role": "user", "content": "x"}], "user": key}
        async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
            assert response.headers["X-Turnout-Release"] == expected
        body.pop("user")
        headers = {"X-Turnout-Sticky-Key": key}
        async with http.post(
            f"{gateway.url}/v1/chat/completions", json=body, headers=headers
        ) as response:
            assert response.headers["X-Turnout-Release"] == expected

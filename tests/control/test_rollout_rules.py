"""Starting rollouts with bad input (400/409 naming the field, nothing written), the leader lease,
and the fencing check of the route-change scripts (a stale leader's flip is refused)."""

import asyncio

import msgspec
import pytest

from control import keyspace
from control.rollout import record
from control.rollout.controller import Controller
from control.rollout.model import Rollout, RolloutIn
from control.rollout.policy import resolve
from control.rollout.start import build
from control.routes import transitions
from control.routes.views import read
from control.store import Store
from gateway.contract import keys
from tests.control.conftest import redis_contents, seed_route

START = "/admin/routes/support/rollouts"


def body(**fields):
    return {"release": "r2", "reason": "try it", "skip_gate": True, **fields}


CASES = [
    (body(steps=[5, 1, 100]), "steps[1]", "increase strictly", "broken_rule"),
    (body(steps=[5, 25, 150]), "steps[2]", "at most 100", "broken_rule"),
    (body(steps=[0, 50]), "steps[0]", "above 0", "broken_rule"),
    (body(steps=[5.555, 50]), "steps[0]", "two decimals", "broken_rule"),
    (body(steps=[]), "steps", "at least one step", "broken_rule"),
    (body(steps=[100]), "steps[0]", "less than 100%", "broken_rule"),
    (body(release="r9"), "release", "unknown release 'r9'", "unknown_reference"),
    (body(release="r1"), "release", "already the stable release", "broken_rule"),
    (body(guards=[]), "guards", "at least one guard", "broken_rule"),
    (
        body(guards=[{"metric": "errors"}]),
        "guards[0].metric",
        "Invalid enum value",
        "invalid_input",
    ),
    (
        body(guards=[{"metric": "latency", "hard_ceiling": 0.5}]),
        "guards.hard_ceiling",
        "rate",
        "broken_rule",
    ),
    (
        body(guards=[{"metric": "score"}, {"metric": "score"}]),
        "guards",
        "appears twice",
        "broken_rule",
    ),
    (
        body(guards=[{"metric": "error_rate", "margin": 2}]),
        "guards[0].margin",
        "<= 1",
        "invalid_input",
    ),
    (body(on_inconclusive="wait"), "on_inconclusive", "Invalid enum value", "invalid_input"),
    (body(min_bake_s=-1), "min_bake_s", ">= 0", "invalid_input"),
    (body(reason=""), "reason", "length >= 1", "invalid_input"),
    (body(colour="red"), "colour", "unknown field `colour`", "invalid_input"),
    ({"reason": "x"}, "release", "missing required field", "invalid_input"),
]


@pytest.mark.parametrize(("payload", "field", "words", "code"), CASES)
async def test_bad_start_is_a_400_naming_the_field_with_nothing_written(
    api, redis, payload, field, words, code
):
    await seed_route(api, "http://127.0.0.1:9/v1")
    before = await redis_contents(redis)
    status, error = await api.error("POST", START, payload, role="operator")
    assert status == 400, error
    assert error["field"] == field, error
    assert words in error["message"], error
    assert error["code"] == code, error  # invalid_input only for what the schema states
    assert await redis_contents(redis) == before


async def test_a_second_rollout_and_a_pinned_or_split_route_are_409(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1", systems=("a", "b", "c"))
    await api.ok("POST", "/admin/routes/support/pin", {"reason": "freeze"}, role="operator")
    status, error = await api.error("POST", START, body(), role="operator")
    assert (status, error["code"], error["field"]) == (409, "pinned", "route")
    await api.ok("POST", "/admin/routes/support/unpin", {"reason": "go"}, role="operator")
    route = await api.ok("GET", "/admin/routes/support")
    flip = {"weights": {"r1": 90, "r3": 10}, "expected_revision": route["revision"], "reason": "x"}
    await api.ok("PUT", "/admin/routes/support/weights", flip, role="operator")
    status, error = await api.error("POST", START, body(), role="operator")
    assert (status, error["code"], error["field"]) == (409, "route_not_stable", "weights")
    await api.ok("POST", "/admin/routes/support/rollback", {"reason": "x"}, role="operator")

    started = await api.ok("POST", START, body(steps=[10, 100]), role="operator")
    assert started["rollout"]["policy"] == "prompt defaults; overridden: steps"
    assert started["rollout"]["min_bake_s"] == 300  # from the prompt policy
    before = await redis_contents(redis)
    status, error = await api.error("POST", START, body(release="r3"), role="operator")
    assert (status, error["code"], error["field"]) == (409, "rollout_exists", "route")
    assert await redis_contents(redis) == before
    route = await api.ok("GET", "/admin/routes/support", role="viewer")
    assert route["weights"] == {"r1": 90, "r2": 10, "r3": 0}
    assert route["rollout"]["release"] == "r2" and route["rollout"]["status"] == "running"


async def test_deleting_a_route_deletes_its_rollout(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1", systems=("a", "b"))
    await api.ok("POST", START, body(steps=[10, 100]), role="operator")
    assert await redis.sismember(keyspace.ROLLOUTS_ACTIVE, "support")
    before = await redis_contents(redis)
    status, error = await api.error("DELETE", "/admin/routes/support", {"reason": "retired"})
    assert (status, error["code"]) == (409, "rollout_active")
    assert "running rollout of release r2" in error["message"] and "abort" in error["message"]
    assert await redis_contents(redis) == before  # refused: nothing written, not even the record
    abort = {"reason": "retiring the route"}
    await api.ok("POST", "/admin/routes/support/rollouts/abort", abort, role="operator")
    await api.ok("DELETE", "/admin/routes/support", {"reason": "retired"}, role="admin")
    for key in (keyspace.rollout, keyspace.rollout_fence, keyspace.rollout_history):
        assert not await redis.exists(key("support")), key
    assert not await redis.sismember(keyspace.ROLLOUTS_ACTIVE, "support")
    await seed_route(api, "http://127.0.0.1:9/v1", systems=("a", "b"))  # the name again
    assert (await api.ok("GET", "/admin/routes/support"))["rollout"] is None


async def test_policy_per_change_type_model_gets_more_steps_than_params():
    policies: dict = {}
    model, source = resolve(RolloutIn(release="r2", reason="x"), "model", policies)
    params, _ = resolve(RolloutIn(release="r2", reason="x"), "params", policies)
    assert len(model.steps) > len(params.steps) and model.min_bake_s > params.min_bake_s
    assert source == "model defaults"
    _, source = resolve(RolloutIn(release="r2", reason="x", min_bake_s=5), "none", policies)
    assert source == "params defaults; overridden: min_bake_s"


async def test_leader_lease_one_holder_and_increasing_fencing_tokens(redis):
    store = Store(redis)
    token_a, held_a = await store.hold_lease("a", 300)
    token_b, held_b = await store.hold_lease("b", 300)
    assert held_a and not held_b and token_b == token_a
    assert await store.hold_lease("a", 300) == (token_a, True)  # renewed
    await redis.pexpire(keyspace.CONTROLLER_LEASE, 1)  # a leader that stopped renewing
    await asyncio.sleep(0.01)
    token_b, held_b = await store.hold_lease("b", 300)
    assert held_b and token_b > token_a
    assert (await store.hold_lease("a", 300))[1] is False


async def _stored_rollout(store: Store) -> tuple[Rollout, object]:
    data = await read(store, "support")
    chosen, source = resolve(RolloutIn(release="r2", reason="x", steps=[10, 50]), "prompt", {})
    rollout = build(data, RolloutIn(release="r2", reason="x"), chosen, source, "prompt",
                    version=1, actor="t", now=1.0)  # fmt: skip
    await store.redis.set(keyspace.rollout("support"), record.encode(rollout))
    return rollout, data


async def test_a_stale_leaders_flip_is_refused_by_the_fencing_check(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1")
    store = Store(redis)
    rollout, data = await _stored_rollout(store)
    state = data.state
    new = transitions.flip(state, {"r1": 9000, "r2": 1000}, {"r1", "r2"})
    after = msgspec.structs.replace(rollout, version=2)
    ok = await store.commit_route(
        state.revision, new, action="rollout.step", actor="controller", reason="leader 7",
        fence=7, rollout=record.encode(after), rollout_version=1,
    )  # fmt: skip
    assert ok.status == "ok"
    assert await redis.get(keyspace.rollout_fence("support")) == b"7"
    before = await redis_contents(redis)
    newer = transitions.flip(new, {"r1": 5000, "r2": 5000}, {"r1", "r2"})
    stale = await store.commit_route(
        new.revision, newer, action="rollout.step", actor="controller", reason="leader 6",
        fence=6, rollout=record.encode(msgspec.structs.replace(after, version=3)),
        rollout_version=2,
    )  # fmt: skip
    assert (stale.status, stale.revision) == ("fenced", 7)
    put = await store.put_rollout(
        "support", 2, record.encode(msgspec.structs.replace(after, version=3)), fence=6
    )
    assert put.status == "fenced"
    assert await redis_contents(redis) == before  # nothing written by the stale leader
    # the same change under a stale rollout version is refused too (compare-and-set)
    wrong = await store.commit_route(
        new.revision, newer, action="rollout.step", actor="controller", reason="x",
        fence=8, rollout=record.encode(after), rollout_version=1,
    )  # fmt: skip
    assert (wrong.status, wrong.revision) == ("rollout_conflict", 2)
    assert await redis_contents(redis) == before
    state_now = msgspec.json.decode(await redis.get(keys.route_state("support")))
    assert state_now["weights_bp"] == {"r1": 9000, "r2": 1000}
    # a controller whose lease is older than the route's fence is refused and steps down
    controller = Controller(store, tick_s=1.0, lease_ms=5000, settle_s=0.0)
    await redis.sadd(keyspace.ROLLOUTS_ACTIVE, "support")
    stored = await redis.get(keyspace.rollout("support"))
    await controller.tick()
    assert controller.token == 1 and controller.leader is False
    assert await redis.get(keyspace.rollout("support")) == stored

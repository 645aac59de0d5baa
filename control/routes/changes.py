"""Route changes: create, add a release, flip, promote, roll back, pin, unpin, retry policy.

Each change reads the route, computes the next state with a pure transition and commits it with
`commit_route.lua`, which compare-and-sets the revision, writes the audit entry and publishes, all
in one atomic step. With an `expected_revision` from the caller a moved route is a 409; without
one (rollback, release creation) the change is planned again on the fresh state.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from control.errors import BROKEN_RULE, BadInput, Conflict, NotFound
from control.registry import releases as release_rules
from control.registry import rules
from control.routes import transitions
from control.routes.emergencies import Emergency, emergency
from control.routes.views import RouteData, read
from control.routes.weights import percent_to_bp
from control.store import CommitOutcome, NewRelease, Store
from control.windows.check import guard
from gateway.contract import keys
from gateway.contract.bucketing import release_number
from gateway.contract.snapshot import RetryPolicy, RouteState

MAX_ATTEMPTS = 20

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Revision = Annotated[int, msgspec.Meta(ge=1)]
# Percent per release. Decoded loosely and checked by `percent_to_bp`, so a bad value is a 400
# naming its release (`weights.r2`); the schema below states the same rules for OpenAPI.
PercentWeights = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description="release id -> percent (0-100, at most two decimals), summing to exactly 100",
        extra_json_schema={
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
            "minProperties": 1,
        },
    ),
]


class RouteIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: rules.Name
    release: release_rules.ReleaseIn  # becomes r1, stable at 100%
    sticky: bool = True
    reason: str = ""


class WeightsIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    weights: PercentWeights
    expected_revision: Revision  # the revision the caller read; 409 when the route moved since
    reason: Reason
    emergency: bool = False  # override a freeze; leaves a needs-review item on the route


class PromoteIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    release: str
    reason: Reason
    expected_revision: Revision | None = None
    emergency: bool = False  # override a freeze; leaves a needs-review item on the route


class RollbackIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    reason: Reason
    to: str | None = None  # default: the stable release
    # Also engage the kill switch on the target (every call, pins included, gets it); leaves a
    # needs-review item. A rollback itself is always allowed, in a freeze too.
    emergency: bool = False


class PinIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    reason: Reason
    expected_revision: Revision | None = None


class RetryIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    retry: RetryPolicy | None  # null turns retries and the canary fallback off
    reason: Reason
    expected_revision: Revision | None = None


Plan = Callable[[RouteData], tuple[RouteState, NewRelease | None]]


def _stale(route: str, current: int | None, expected: int) -> Conflict:
    return Conflict(
        f"expected_revision: route {route!r} is at revision {current}, not {expected}; "
        "read it again and retry",
        field="expected_revision",
        code="revision_conflict",
    )


async def _commit(
    store: Store,
    route: str,
    plan: Plan,
    *,
    action: str,
    actor: str,
    reason: str,
    expected_revision: int | None = None,
    urgent: Emergency | None = None,
) -> RouteData:
    for _ in range(MAX_ATTEMPTS):
        data = await read(store, route)
        if expected_revision is not None and data.state.revision != expected_revision:
            raise _stale(route, data.state.revision, expected_revision)
        state, release = plan(data)
        outcome = await store.commit_route(
            data.state.revision,
            state,
            action=action,
            actor=actor,
            reason=reason,
            release=release,
            evidence=urgent.evidence if urgent else b"",
            review=urgent.review if urgent else b"",
        )
        if outcome.status == "ok" or await _landed(store, route, state, release):
            return _after(data, state, release)
        if outcome.status == "invalid":
            raise BadInput(
                f"{outcome.field}: {outcome.rule}", field=outcome.field, code=BROKEN_RULE
            )
        if expected_revision is not None:
            raise _stale(route, outcome.revision, expected_revision)
        # The route moved between our read and the script: plan again on the fresh state.
    raise Conflict(f"route {route!r} kept changing; try again", code="busy")


async def _landed(store: Store, route: str, state: RouteState, release: NewRelease | None) -> bool:
    """Whether the route now holds exactly the planned change, at its planned revision: the
    answer to a retried script whose first attempt ran (its retry sees a "conflict")."""
    try:
        now = await read(store, route)
    except NotFound:
        return False
    return now.state == state and (
        release is None or now.releases.get(release.spec.id) == release.spec
    )


def _after(data: RouteData, state: RouteState, release: NewRelease | None) -> RouteData:
    if release is None:
        return RouteData(state=state, releases=data.releases, meta=data.meta, rollout=data.rollout)
    meta = release_rules.meta_decoder.decode(release.meta_json)
    return RouteData(
        state=state,
        releases={**data.releases, release.spec.id: release.spec},
        meta={**data.meta, release.spec.id: meta},
        rollout=data.rollout,
    )


def _meta(actor: str, note: str, now: datetime) -> bytes:
    meta = release_rules.ReleaseMeta(author=actor, note=note, created_at=now)
    return release_rules.meta_encoder.encode(meta)


async def create_route(store: Store, body: RouteIn, *, actor: str, now: datetime) -> RouteData:
    rules.check_name("name", body.name)
    spec = await release_rules.build(store, "r1", body.release, field="release.")
    state = transitions.initial(body.name, "r1", sticky=body.sticky)
    release = NewRelease(spec=spec, meta_json=_meta(actor, body.release.note, now))
    # Indexed first (outside the route's slot, so not in the script): readers skip a name that
    # has no state yet, and a refused creation leaves at most a name that existed already.
    await store.guard.check()  # before the index entry: nothing is written while data is lost
    await store.redis.sadd(keys.ROUTE_INDEX, body.name)
    outcome = await store.commit_route(
        0, state, action="route.create", actor=actor, reason=body.reason, release=release
    )
    if outcome.status == "conflict" and await _landed(store, body.name, state, release):
        outcome = CommitOutcome("ok", revision=1)
    if outcome.status == "invalid":
        raise BadInput(f"{outcome.field}: {outcome.rule}", field=outcome.field, code=BROKEN_RULE)
    if outcome.status != "ok":
        raise Conflict(f"name: route {body.name!r} already exists", field="name", code="exists")
    return _after(RouteData(state=state, releases={}, meta={}), state, release)


async def add_release(
    store: Store, route: str, body: release_rules.ReleaseIn, *, actor: str, now: datetime
) -> tuple[RouteData, str]:
    await read(store, route)  # 404 before resolving references
    spec = await release_rules.build(store, "r0", body)
    meta_json = _meta(actor, body.note, now)
    chosen: list[str] = []

    def plan(data: RouteData) -> tuple[RouteState, NewRelease]:
        number = max((release_number(r) for r in data.releases), default=0) + 1
        release_id = f"r{number}"
        chosen.append(release_id)
        new = NewRelease(spec=msgspec.structs.replace(spec, id=release_id), meta_json=meta_json)
        return transitions.touched(data.state), new

    data = await _commit(store, route, plan, action="release.create", actor=actor, reason=body.note)
    return data, chosen[-1]


async def flip(
    store: Store, route: str, body: WeightsIn, *, actor: str, now: datetime | None = None
) -> RouteData:
    weights_bp = percent_to_bp(body.weights)
    moment = now or datetime.now(UTC)
    current = await read(store, route)
    overrode = None
    if transitions.adds_risk(current.state, weights_bp):
        overrode = await guard(
            store.redis, route, action="flip", emergency=body.emergency, at=moment
        )
    urgent = (
        emergency(route, "route.flip", actor, body.reason, overrode, moment)
        if body.emergency
        else None
    )
    return await _commit(
        store,
        route,
        lambda data: (transitions.flip(data.state, weights_bp, data.releases), None),
        action="route.flip",
        actor=actor,
        reason=body.reason,
        expected_revision=body.expected_revision,
        urgent=urgent,
    )


async def promote(
    store: Store, route: str, body: PromoteIn, *, actor: str, now: datetime | None = None
) -> RouteData:
    moment = now or datetime.now(UTC)
    await read(store, route)  # 404 before the freeze check
    overrode = await guard(
        store.redis, route, action="promote", emergency=body.emergency, at=moment
    )
    urgent = (
        emergency(route, "route.promote", actor, body.reason, overrode, moment)
        if body.emergency
        else None
    )
    return await _commit(
        store,
        route,
        lambda data: (transitions.promote(data.state, body.release, data.releases), None),
        action="route.promote",
        actor=actor,
        reason=body.reason,
        expected_revision=body.expected_revision,
        urgent=urgent,
    )


async def rollback(
    store: Store, route: str, body: RollbackIn, *, actor: str, now: datetime | None = None
) -> tuple[RouteData, bool]:
    """(the route after, whether anything changed). Never asks about freezes. With `emergency`,
    the target also becomes the kill switch. Already all on the target (stable, or `to` as
    stable), and with `emergency` already killed onto it: nothing is written, no revision, no
    audit entry."""
    data = await read(store, route)
    target = body.to or data.state.stable
    if transitions.at_rollback_target(data.state, body.to) and (
        not body.emergency or data.state.kill_switch == target
    ):
        return data, False

    def plan(data: RouteData) -> tuple[RouteState, None]:
        state = transitions.rollback(data.state, body.to, data.releases)
        if body.emergency:
            state = msgspec.structs.replace(state, kill_switch=state.stable)
        return state, None

    urgent = (
        emergency(route, "route.rollback", actor, body.reason, None, now or datetime.now(UTC))
        if body.emergency
        else None
    )
    after = await _commit(
        store,
        route,
        plan,
        action="route.rollback",
        actor=actor,
        reason=body.reason,
        urgent=urgent,
    )
    return after, True


async def set_pinned(store: Store, route: str, body: PinIn, *, pin: bool, actor: str) -> RouteData:
    data = await read(store, route)
    if data.state.pinned == pin and body.expected_revision in (None, data.state.revision):
        return data  # already so: nothing to change, nothing to audit
    return await _commit(
        store,
        route,
        lambda current: (transitions.pinned(current.state, pin), None),
        action="route.pin" if pin else "route.unpin",
        actor=actor,
        reason=body.reason,
        expected_revision=body.expected_revision,
    )


class DeleteIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    reason: Reason


async def set_retry(store: Store, route: str, body: RetryIn, *, actor: str) -> RouteData:
    data = await read(store, route)
    if data.state.retry == body.retry and body.expected_revision in (None, data.state.revision):
        return data  # already so: nothing to change, nothing to audit
    return await _commit(
        store,
        route,
        lambda current: (transitions.retry(current.state, body.retry), None),
        action="route.retry",
        actor=actor,
        reason=body.reason,
        expected_revision=body.expected_revision,
    )

"""Starting a canary rollout: validate, ask the eval gate, the kill switch and the freeze windows,
then move the route to the first step and store the rollout in one atomic, audited step.

Every check runs before anything is written: a refused start leaves Redis as it was.
"""

import msgspec

from control import homes, keyspace
from control.errors import BROKEN_RULE, UNKNOWN_REFERENCE, BadInput, Conflict
from control.grouprollout import storage as group_storage
from control.registry import releases as release_rules
from control.rollout import counts, decide, freeze, policy, record, storage
from control.rollout.gate import gate_refusal
from control.rollout.model import Policy, Rollout, RolloutIn, Step
from control.routes import transitions
from control.routes.views import RouteData, read
from control.store import Store
from gateway.contract.bucketing import BUCKETS

MAX_ATTEMPTS = 10


def check_release(data: RouteData, body: RolloutIn) -> str:
    """The release's change type versus stable; BadInput naming `release` when it cannot run."""
    state = data.state
    if body.release not in data.releases:
        known = ", ".join(sorted(data.releases))
        raise BadInput(
            f"release: unknown release {body.release!r} of route {state.name!r} (known: {known})",
            field="release",
            code=UNKNOWN_REFERENCE,
        )
    if body.release == state.stable:
        raise BadInput(
            f"release: {body.release} is already the stable release of {state.name!r}",
            field="release",
            code=BROKEN_RULE,
        )
    found = release_rules.changes(data.releases[body.release], data.releases.get(state.stable))
    return release_rules.change_type(found)


def check_route(data: RouteData, existing: Rollout | None) -> None:
    state = data.state
    freeze.refuse_killed(state, "start")
    if existing is not None and existing.active:
        raise Conflict(
            f"route: {state.name!r} already has a rollout of {existing.release} "
            f"({existing.status}); abort or finish it first",
            field="route",
            code="rollout_exists",
        )
    if state.pinned:
        raise Conflict(
            f"route: {state.name!r} is pinned; unpin it before starting a rollout",
            field="route",
            code="pinned",
        )
    live = {r: bp for r, bp in state.weights_bp.items() if bp > 0}
    if live != {state.stable: BUCKETS}:
        raise Conflict(
            f"weights: a rollout starts from the stable release at 100% ({state.stable}); "
            "the route now splits traffic — roll back or promote first",
            field="weights",
            code="route_not_stable",
        )


def grouped(route: str, group: str, rollout_id: str, status: str) -> Conflict:
    return Conflict(
        f"route: {route!r} is moved by the rollout {rollout_id} of group {group!r} ({status}); "
        "abort or finish it first",
        field="route",
        code="group_rollout_exists",
    )


async def refuse_grouped(store: Store, data: RouteData) -> None:
    """409 naming the group rollout that is moving this route. The two are exclusive, each
    checked atomically by the other's start script too: the group's start refuses a member's
    active rollout, and a route rollout's start (`commit_route.lua`) refuses while the group's
    rollout is active, for a route living in its group's slot."""
    group = data.state.group
    running = await group_storage.read(store, group) if group is not None else None
    if running is not None and running.active:
        raise grouped(data.state.name, running.group, running.id, running.status)


def build(
    data: RouteData,
    body: RolloutIn,
    chosen: Policy,
    source: str,
    change_type: str,
    *,
    version: int,
    actor: str,
    now: float,
) -> Rollout:
    guards = [policy.resolve_guard(g) for g in chosen.guards]
    revision = data.state.revision + 1
    draft = Rollout(
        version=version,
        route=data.state.name,
        release=body.release,
        stable=data.state.stable,
        change_type=change_type,
        policy=source,
        steps=chosen.steps,
        min_bake_s=chosen.min_bake_s,
        min_requests=chosen.min_requests,
        max_step_s=chosen.max_step_s,
        on_inconclusive=chosen.on_inconclusive,
        alpha=chosen.alpha,
        guard_alpha=decide.guard_alpha(chosen.alpha, guards),
        guards=guards,
        skip_gate=body.skip_gate,
        reason=body.reason,
        actor=actor,
        started_at=now,
        status="running",
        status_reason="started",
        step=Step(index=0, percent=0, revision=revision, committed_at=now, deadline_at=now),
        revision=revision,
        decisions=[],
    )
    step = record.new_step(draft, 0, revision, now)
    started = "started" + (f"; eval gate skipped: {body.reason}" if body.skip_gate else "")
    return msgspec.structs.replace(
        draft,
        step=step,
        status_reason=started,
        decisions=record.decided(draft, now, "start", actor, body.reason, revision),
    )


async def start(
    store: Store,
    route: str,
    body: RolloutIn,
    *,
    actor: str,
    now: float,
    policies: dict[str, Policy],
) -> Rollout:
    for _ in range(MAX_ATTEMPTS):
        data = await read(store, route)
        change_type = check_release(data, body)
        chosen, source = policy.resolve(body, change_type, policies)
        if chosen.steps[0] >= 100:
            raise BadInput(
                "steps[0]: the first step must send the canary less than 100%",
                field="steps[0]",
                code=BROKEN_RULE,
            )
        existing = await storage.read(store, route)
        await refuse_grouped(store, data)  # first: the group's weights are its own
        check_route(data, existing)
        if not body.skip_gate:
            refusal = await gate_refusal(store, route, body.release, data.state.stable)
            if refusal is not None:
                raise Conflict(f"release: {refusal}", field="release", code="gate_refused")
        urgent = await freeze.allow(
            store,
            route,
            "start",
            emergency_=body.emergency,
            actor=actor,
            reason=body.reason,
            now=now,
        )
        version = existing.version + 1 if existing is not None else 1
        rollout = build(
            data, body, chosen, source, change_type, version=version, actor=actor, now=now
        )
        # Counted from just before the flip (the canary had no traffic before it).
        snapshot = await counts.take_snapshot(
            store.redis, route, (body.release, data.state.stable), now
        )
        rollout = msgspec.structs.replace(
            rollout, step=msgspec.structs.replace(rollout.step, snapshot=snapshot)
        )
        weights = decide.step_weights(rollout, rollout.steps[0])
        state = transitions.flip(data.state, weights, data.releases)
        # Indexed before the script (outside the route's slot): a refused start leaves at most
        # a name the controller drops at its next look.
        await store.redis.sadd(keyspace.ROLLOUTS_ACTIVE, route)
        outcome = await storage.commit_with_route(
            store,
            data.state.revision,
            state,
            existing.version if existing is not None else 0,
            rollout,
            action="rollout.start",
            actor=actor,
            reason=f"rollout of {body.release} ({change_type} change) at "
            f"{rollout.steps[0]:g}%: {body.reason}"
            + (" [eval gate skipped]" if body.skip_gate else "")
            + (" [emergency]" if body.emergency else ""),
            urgent=urgent,
        )
        if outcome.status == "ok":
            group = await homes.group_of(store.redis, route)
            await store.redis.delete(keyspace.rollout_history(route, group))
            return rollout
        if outcome.status == "group_rollout":  # started between our check and the script
            assert outcome.group is not None and outcome.field and outcome.rule
            raise grouped(route, outcome.group, outcome.field, outcome.rule)
        if outcome.status == "invalid":
            raise BadInput(
                f"{outcome.field}: {outcome.rule}", field=outcome.field, code=BROKEN_RULE
            )
    raise Conflict(f"route {route!r} kept changing; try again", code="busy")

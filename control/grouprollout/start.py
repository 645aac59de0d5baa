"""Starting a group rollout: every route of the group named with its candidate, each checked as
a route rollout's start is (release, kill switch, pin, stable at 100%, eval gate, freeze), then
every route moved to the first step and the record stored in one atomic, audited script. An
`emergency` start overrides a freeze, and opens a needs-review item on every member route in
that script.

A member's own running rollout refuses the start inside that script, so a route rollout and a
group rollout can never both hold a route (each start also checks the other first, for a 409
naming it).
"""

import secrets

import msgspec

from control import keyspace
from control.errors import BROKEN_RULE, UNKNOWN_REFERENCE, BadInput, Conflict, NotFound
from control.grouprollout import record, storage
from control.grouprollout.model import GroupRollout, GroupRolloutIn, GroupStep, Member
from control.grouprollout.tick import step_state
from control.groups.changes import members
from control.registry import rules
from control.rollout import counts, decide, freeze, policy
from control.rollout import storage as route_storage
from control.rollout.gate import gate_refusal
from control.rollout.model import Policy, PolicyOverrides, RolloutIn
from control.rollout.start import check_release, check_route
from control.routes.emergencies import Emergency
from control.routes.views import RouteData
from control.store import Store

MAX_ATTEMPTS = 10


def as_route(body: GroupRolloutIn, release: str) -> RolloutIn:
    """One route's share of the request, to check and resolve it as a route rollout's."""
    overrides = {name: getattr(body, name) for name in PolicyOverrides.__struct_fields__}
    return RolloutIn(release=release, reason=body.reason, skip_gate=body.skip_gate, **overrides)


def check_releases(group: str, datas: list[RouteData], body: GroupRolloutIn) -> None:
    names = {d.state.name for d in datas}
    unknown = sorted(set(body.releases) - names)
    if unknown:
        raise BadInput(
            f"releases: {unknown} are not routes of group {group!r} (its routes: "
            f"{', '.join(sorted(names))})",
            field="releases",
            code=UNKNOWN_REFERENCE,
        )
    missing = sorted(names - set(body.releases))
    if missing:
        raise BadInput(
            f"releases: name the candidate of every route of group {group!r}; missing {missing}",
            field="releases",
            code=BROKEN_RULE,
        )


async def _checked(
    store: Store, group: str, datas: list[RouteData], body: GroupRolloutIn, actor: str, now: float
) -> tuple[dict[str, str], dict[str, Emergency]]:
    """Each route checked as a route rollout's start: (route -> its change type, route -> its
    emergency, for an `emergency` start: the freeze it overrides and its needs-review item)."""
    types, urgent = {}, {}
    for data in datas:
        route = data.state.name
        one = as_route(body, body.releases[route])
        types[route] = check_release(data, one)
        check_route(data, await route_storage.read(store, route))
        if not body.skip_gate:
            refusal = await gate_refusal(store, route, one.release, data.state.stable)
            if refusal is not None:
                raise Conflict(
                    f"releases.{route}: {refusal}", field="releases", code="gate_refused"
                )
        found = await freeze.allow(
            store, route, "start", emergency_=body.emergency, actor=actor, reason=body.reason,
            now=now, kind="group_rollout",
        )  # fmt: skip
        if found is not None:
            urgent[route] = found
    return types, urgent


def build(
    group: str,
    datas: list[RouteData],
    body: GroupRolloutIn,
    chosen: Policy,
    source: str,
    types: dict[str, str],
    *,
    version: int,
    actor: str,
    now: float,
) -> GroupRollout:
    guards = [policy.resolve_guard(g) for g in chosen.guards]
    kinds = set(types.values())
    draft = GroupRollout(
        version=version - 1,  # the start's transition below bumps it
        id=secrets.token_hex(6),
        group=group,
        members=[
            Member(
                route=d.state.name,
                release=body.releases[d.state.name],
                stable=d.state.stable,
                change_type=types[d.state.name],
                revision=d.state.revision + 1,
            )
            for d in sorted(datas, key=lambda d: d.state.name)
        ],
        change_type=kinds.pop() if len(kinds) == 1 else "several",
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
        step=GroupStep(index=0, percent=0, committed_at=now, deadline_at=now),
    )
    started = "started" + (f"; eval gate skipped: {body.reason}" if body.skip_gate else "")
    return record.with_status(
        draft,
        now,
        "running",
        started,
        action="start",
        actor=actor,
        step=record.new_step(draft, 0, now, judging=True),
    )


async def start(
    store: Store,
    group: str,
    body: GroupRolloutIn,
    *,
    actor: str,
    now: float,
    policies: dict[str, Policy],
) -> GroupRollout:
    rules.check_name("group", group)
    for _ in range(MAX_ATTEMPTS):
        datas = await members(store, group)
        if not datas:
            raise NotFound(f"group: group {group!r} has no routes", field="group")
        check_releases(group, datas, body)
        existing = await storage.read(store, group)
        if existing is not None and existing.active:
            raise Conflict(
                f"group: {group!r} already has the rollout {existing.id} ({existing.status}); "
                "abort or finish it first",
                field="group",
                code="rollout_exists",
            )
        types, urgent = await _checked(store, group, datas, body, actor, now)
        kinds = set(types.values())
        kind = kinds.pop() if len(kinds) == 1 else "several"
        chosen, source = policy.resolve(as_route(body, ""), kind, policies)
        if chosen.steps[0] >= 100:
            raise BadInput(
                "steps[0]: the first step must send the canary less than 100%",
                field="steps[0]",
                code=BROKEN_RULE,
            )
        version = existing.version + 1 if existing is not None else 1
        rollout = build(
            group, datas, body, chosen, source, types, version=version, actor=actor, now=now
        )
        states = {d.state.name: d.state for d in datas}
        moves = {}
        members_ = []
        for member in rollout.members:  # counted from just before the flip
            snapshot = await counts.take_snapshot(
                store.redis, member.route, (member.release, member.stable), now
            )
            members_.append(msgspec.structs.replace(member, snapshot=snapshot))
            state = states[member.route]
            moves[member.route] = (state.revision, step_state(state, member, rollout.steps[0]))
        rollout = msgspec.structs.replace(rollout, members=members_)
        # Indexed before the script: a refused start leaves at most a name the controller drops.
        await store.redis.sadd(keyspace.GROUP_ROLLOUTS_ACTIVE, group)
        releases = ", ".join(f"{m.route}={m.release}" for m in rollout.members)
        outcome = await storage.write(
            store,
            existing.version if existing is not None else 0,
            rollout,
            audit=(
                "group_rollout.start",
                actor,
                f"group rollout {rollout.id} of {releases} ({rollout.change_type} change) at "
                f"{rollout.steps[0]:g}%: {body.reason}"
                + (" [eval gate skipped]" if body.skip_gate else "")
                + (" [emergency]" if body.emergency else ""),
            ),
            states=moves,
            refuse_route_rollouts=True,
            urgent=urgent,
        )
        if outcome.status == "ok":
            await store.redis.delete(keyspace.group_rollout_history(group))
            return rollout
        if outcome.status == "route_rollout":
            raise Conflict(
                f"route: {outcome.field!r} has a rollout of {outcome.rule}; abort or finish it "
                "first",
                field="route",
                code="rollout_exists",
            )
        if outcome.status == "invalid":
            raise BadInput(f"{outcome.field}: {outcome.rule}", field="routes", code=BROKEN_RULE)
    raise Conflict(f"group {group!r} kept changing; try again", code="busy")

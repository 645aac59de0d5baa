"""One look of the leader at one group's rollout: read every member route, decide with the
combined guards (`combined`), write (`storage.write`, fenced, versioned, audited per route).

A member route moved by hand (weights, a route change set) pauses the group; a kill switch on
any member pauses it; a pin on any member holds it; a freeze on any member holds a ready step at
its boundary. Every step, rollback and promotion moves all member routes in one script.
"""

import msgspec

from control import homes, keyspace
from control.grouprollout import combined, record, storage
from control.grouprollout.model import GroupRollout, Member
from control.rollout import counts, decide, freeze
from control.rollout.model import HistoryPoint, Srm, Status
from control.rollout.tick import Tick
from control.routes import transitions
from control.routes.views import decode_state
from control.store import Store
from gateway.contract import keys
from gateway.contract.bucketing import BUCKETS
from gateway.contract.snapshot import RouteState

ACTOR = "controller"
Moves = dict[str, tuple[int, RouteState]]


async def write(
    tick: Tick,
    before: GroupRollout,
    after: GroupRollout,
    audit: tuple[str, str] | None = None,
    *,
    states: Moves | None = None,
    judged: GroupRollout | None = None,
    point: HistoryPoint | None = None,
) -> None:
    outcome = await storage.write(
        tick.store,
        before.version,
        after,
        audit=(f"group_rollout.{audit[0]}", ACTOR, audit[1]) if audit else None,
        states=states,
        fence=tick.fence,
        judged=judged,
        point=point,
    )
    tick.note(outcome)


async def set_status(
    tick: Tick, rollout: GroupRollout, status: Status, action: str, reason: str, **changes: object
) -> None:
    """Change the status, audited on every member; while it stays only the reason follows."""
    if rollout.status == status:
        if rollout.status_reason != reason:
            await write(tick, rollout, record.bumped(rollout, status_reason=reason, **changes))
        return
    after = record.with_status(
        rollout, tick.now, status, reason, action=action, actor=ACTOR, **changes
    )
    await write(tick, rollout, after, (action, reason))


async def read_states(store: Store, rollout: GroupRollout) -> dict[str, RouteState]:
    """The member routes' states; a deleted member is missing from the answer."""
    found = await homes.all_groups(store.redis)
    raws = [
        await store.redis.get(keys.route_state(m.route, found.get(m.route)))
        for m in rollout.members
    ]
    return {
        member.route: decode_state(raw)
        for member, raw in zip(rollout.members, raws, strict=True)
        if raw is not None
    }


async def look_at(tick: Tick, group: str) -> None:
    rollout = await storage.read(tick.store, group)
    if rollout is None or not rollout.active:
        await tick.store.redis.srem(keyspace.GROUP_ROLLOUTS_ACTIVE, group)
        return
    states = await read_states(tick.store, rollout)
    if len(states) < len(rollout.members):  # a member was deleted: nothing to judge or move;
        return  # the operator aborts (which ends it on the routes that remain)
    checks = {
        m.route: decide.check_weights(
            m.release,
            m.stable,
            rollout.step.percent,
            m.revision,
            states[m.route].stable,
            states[m.route].weights_bp,
            states[m.route].revision,
            states[m.route].pinned,
        )
        for m in rollout.members
    }
    kinds = {kind for kind, _ in checks.values()}
    if kinds in ({"rolled_back"}, {"promoted"}):  # the whole group moved outside the rollout
        status: Status = "aborted" if kinds == {"rolled_back"} else "completed"
        why = f"every route of group {group!r} {kinds.pop().replace('_', ' ')} outside the rollout"
        await set_status(tick, rollout, status, "end", why)
        return
    for route, (kind, why) in sorted(checks.items()):
        if kind in ("manual", "rolled_back", "promoted"):
            if rollout.status != "paused":
                await set_status(tick, rollout, "paused", "pause", f"route {route!r}: {why}")
            return
    if "adopt" in kinds:  # pinned/unpinned or a release added: same weights, newer revision
        members = [
            msgspec.structs.replace(m, revision=states[m.route].revision) for m in rollout.members
        ]
        after = record.bumped(rollout, members=members)
        await write(tick, rollout, after)
        rollout = after
    if rollout.status == "paused":
        return
    for member in rollout.members:
        kill = freeze.killed(states[member.route])
        if kill is not None:  # judging starts afresh after an operator resumes
            members = [record.fresh(m, m.revision) for m in rollout.members]
            step = msgspec.structs.replace(rollout.step, judging_at=None)
            await set_status(
                tick, rollout, "paused", "pause", kill, members=members, step=step, evidence=[]
            )
            return
    for route, (kind, why) in sorted(checks.items()):
        if kind == "pinned":
            await set_status(tick, rollout, "holding", "hold", f"route {route!r}: {why}")
            return
    await _judge(tick, rollout, states)


async def _snapshots(tick: Tick, rollout: GroupRollout) -> list[Member]:
    return [
        msgspec.structs.replace(
            m,
            snapshot=await counts.take_snapshot(
                tick.store.redis, m.route, (m.release, m.stable), tick.now
            ),
        )
        for m in rollout.members
    ]


async def _judge(tick: Tick, rollout: GroupRollout, states: dict[str, RouteState]) -> None:
    step = rollout.step
    if step.judging_at is None or any(m.snapshot is None for m in rollout.members):
        members = await _snapshots(tick, rollout)
        judging = msgspec.structs.replace(step, judging_at=tick.now)
        await write(tick, rollout, record.bumped(rollout, members=members, step=judging))
        return
    if any(m.srm_snapshot is None for m in rollout.members) and (
        tick.now >= step.committed_at + tick.settle_s
    ):
        members = [
            msgspec.structs.replace(m, srm_snapshot=s.snapshot)
            for m, s in zip(rollout.members, await _snapshots(tick, rollout), strict=True)
        ]
        await write(tick, rollout, record.bumped(rollout, members=members))
        return
    arms = {m.route: await _arms(tick, rollout, m, states[m.route]) for m in rollout.members}
    waiting = None
    for member in rollout.members:
        window = await freeze.frozen(tick.store, member.route, tick.now)
        if window is not None:
            waiting = f"route {member.route!r}: {freeze.waiting(window)}"
            break
    assert step.judging_at is not None
    found = combined.look(rollout, arms, tick.now - step.judging_at, tick.now, waiting)
    canary, baseline = combined.pool(arms)
    looked = msgspec.structs.replace(
        rollout,
        evidence=found.evidence or rollout.evidence,
        members=[
            msgspec.structs.replace(
                m,
                srm=arms[m.route].srm,
                canary_requests=arms[m.route].canary.requests,
                baseline_requests=arms[m.route].baseline.requests,
            )
            for m in rollout.members
        ],
        canary_requests=canary.requests,
        baseline_requests=baseline.requests,
    )
    point = HistoryPoint.of(tick.now, step.index, found.evidence)
    under = msgspec.structs.replace(looked, version=rollout.version)
    if found.action == "rollback":
        await _end(tick, rollout, looked, states, "rollback", found.reason)
    elif found.action == "advance":
        await _advance(tick, rollout, looked, states, found.reason)
    elif found.action == "hold":
        await set_status(tick, under, "holding", "hold", found.reason)
    elif found.action == "timeout":
        if rollout.on_inconclusive == "extend":
            extended = msgspec.structs.replace(step, deadline_at=tick.now + rollout.max_step_s)
            after = record.with_status(
                looked, tick.now, "running", found.reason, action="extend", actor=ACTOR,
                step=extended,
            )  # fmt: skip
            await write(tick, rollout, after, ("extend", found.reason))
        else:
            await set_status(tick, under, "paused", "pause", found.reason)
    elif rollout.status == "holding":  # the hold's cause (SRM, a pin) has cleared
        after = record.with_status(
            looked, tick.now, "running", "hold cleared", action="resume", actor=ACTOR
        )
        await write(tick, rollout, after, ("resume", "hold cleared"), point=point)
    else:
        await write(tick, rollout, record.bumped(looked), point=point)


async def _arms(
    tick: Tick, rollout: GroupRollout, member: Member, state: RouteState
) -> combined.RouteArms:
    """One route's two arms since its snapshot, and its split check once the flip settled."""
    redis, arms = tick.store.redis, (member.release, member.stable)
    assert member.snapshot is not None
    buckets = await counts.read_since(redis, member.route, member.snapshot.minute, tick.now)
    canary, baseline = counts.arm_totals(buckets, member.snapshot, *arms)
    srm: Srm | None = None
    settled = member.srm_snapshot
    if settled is not None:
        skip = settled.minute - member.snapshot.minute
        srm_canary, srm_baseline = counts.arms(buckets[skip:], settled, *arms)
        sticky = None
        first, last = settled.minute + 1, counts.minute_of(tick.now)
        if state.sticky and last >= first:  # see rollout.tick._split_keys for why from `first`
            sticky = await counts.distinct_keys(redis, member.route, arms, first, last)
        srm = decide.srm_check(
            rollout.step.percent,
            {
                member.release: srm_canary.requests - srm_canary.keyed,
                member.stable: srm_baseline.requests - srm_baseline.keyed,
            },
            sticky,
            *arms,
            keyed={member.release: srm_canary.keyed, member.stable: srm_baseline.keyed},
        )
    return combined.RouteArms(canary, baseline, srm)


def step_state(state: RouteState, member: Member, percent: float) -> RouteState:
    """The route at a step: its candidate at `percent`, its stable (at the start) the rest."""
    canary = decide.step_bp(percent)
    weights = {member.stable: BUCKETS - canary, member.release: canary}
    return transitions.flip(
        msgspec.structs.replace(state, stable=member.stable), weights, set(weights)
    )


def end_state(state: RouteState, member: Member, kind: str) -> RouteState:
    """The route after a rollback (all to its stable) or a promotion (candidate stable, 100%)."""
    if kind == "promote":
        return transitions.promote(state, member.release, {member.release})
    return msgspec.structs.replace(
        state,
        revision=state.revision + 1,
        stable=member.stable,
        weights_bp={member.stable: BUCKETS},
    )


async def _advance(
    tick: Tick,
    rollout: GroupRollout,
    looked: GroupRollout,
    states: dict[str, RouteState],
    reason: str,
) -> None:
    following = rollout.step.index + 1
    if following >= len(rollout.steps) or rollout.steps[following] >= 100:
        await _end(tick, rollout, looked, states, "promote", reason)
        return
    percent = rollout.steps[following]
    moves: Moves = {}
    members = []
    snapshots = await _snapshots(tick, rollout)  # counted from just before the flip
    for member, taken in zip(rollout.members, snapshots, strict=True):
        state = states[member.route]
        moved = step_state(state, member, percent)
        moves[member.route] = (state.revision, moved)
        members.append(record.fresh(member, moved.revision, taken.snapshot))
    after = record.with_status(
        looked,
        tick.now,
        "running",
        reason,
        action="step",
        actor=ACTOR,
        step=record.new_step(rollout, following, tick.now, judging=True),
        members=members,
        evidence=[],
        canary_requests=0,
        baseline_requests=0,
    )
    text = f"step {following + 1}/{len(rollout.steps)}: every route at {percent:g}%; {reason}"
    await write(tick, rollout, after, ("step", text), states=moves, judged=looked)


async def _end(
    tick: Tick,
    rollout: GroupRollout,
    looked: GroupRollout,
    states: dict[str, RouteState],
    kind: str,
    reason: str,
) -> None:
    """Roll back (every route to its stable) or promote (every candidate stable at 100%)."""
    status: Status = "completed" if kind == "promote" else "rolled_back"
    moves: Moves = {}
    members = []
    for member in looked.members:
        state = states[member.route]
        moved = end_state(state, member, kind)
        moves[member.route] = (state.revision, moved)
        members.append(msgspec.structs.replace(member, revision=moved.revision))
    after = record.with_status(
        looked, tick.now, status, reason, action=kind, actor=ACTOR, members=members
    )
    await write(tick, rollout, after, (kind, reason), states=moves, judged=looked)

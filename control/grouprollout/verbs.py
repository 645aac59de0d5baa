"""The operator's verbs on a group rollout: pause, resume, abort (= roll back every route),
promote (every candidate stable). Each is a compare-and-set on the record (and on the routes'
revisions when it moves them), retried on a concurrent change, audited on every member route.
"""

from collections.abc import Awaitable, Callable

import msgspec

from control.errors import BROKEN_RULE, BadInput, Conflict, NotFound
from control.grouprollout import record, storage
from control.grouprollout.model import GroupRollout
from control.grouprollout.tick import Moves, end_state, read_states, step_state
from control.registry import rules
from control.rollout import decide, freeze
from control.rollout.model import Status, VerbIn
from control.routes.emergencies import Emergency
from control.store import CommitOutcome, Store

MAX_ATTEMPTS = 10

Attempt = Callable[[GroupRollout], Awaitable[CommitOutcome]]


async def current(store: Store, group: str) -> GroupRollout:
    rollout = await storage.read(store, rules.check_name("group", group))
    if rollout is None:
        raise NotFound(f"group {group!r} has no group rollout", field="group")
    if not rollout.active:
        raise Conflict(
            f"group: the rollout {rollout.id} has ended ({rollout.status})",
            field="group",
            code="rollout_ended",
        )
    return rollout


async def _retry(store: Store, group: str, attempt: Attempt) -> GroupRollout:
    for _ in range(MAX_ATTEMPTS):
        outcome = await attempt(await current(store, group))
        if outcome.status == "ok":
            found = await storage.read(store, group)
            assert found is not None
            return found
        if outcome.status == "invalid":
            raise BadInput(f"{outcome.field}: {outcome.rule}", field="routes", code=BROKEN_RULE)
    raise Conflict(f"group {group!r}: the rollout kept changing; try again", code="busy")


async def pause(store: Store, group: str, body: VerbIn, *, actor: str, now: float) -> GroupRollout:
    async def attempt(rollout: GroupRollout) -> CommitOutcome:
        if rollout.status == "paused":
            return CommitOutcome("ok")
        after = record.with_status(rollout, now, "paused", body.reason, action="pause", actor=actor)
        return await storage.write(
            store, rollout.version, after, audit=("group_rollout.pause", actor, body.reason)
        )

    return await _retry(store, group, attempt)


async def resume(store: Store, group: str, body: VerbIn, *, actor: str, now: float) -> GroupRollout:
    """Back to running with a fresh deadline and fresh counts; every route not at the step's
    weights is put back in the same step (refused in a freeze on any of them unless `emergency`,
    which opens a needs-review item on each route put back). Refused while a member's kill
    switch is engaged."""

    async def attempt(rollout: GroupRollout) -> CommitOutcome:
        if rollout.status == "running":
            return CommitOutcome("ok")
        states = await read_states(store, rollout)
        gone = sorted({m.route for m in rollout.members} - set(states))
        if gone:
            raise Conflict(
                f"group: routes {gone} of the rollout {rollout.id} no longer exist; abort it",
                field="group",
                code="route_missing",
            )
        moves: Moves = {}
        members = []
        urgent: dict[str, Emergency] = {}
        for member in rollout.members:
            state = states[member.route]
            freeze.refuse_killed(state, "resume")
            check, _ = decide.check_weights(
                member.release,
                member.stable,
                rollout.step.percent,
                member.revision,
                state.stable,
                state.weights_bp,
                state.revision,
                state.pinned,
            )
            revision = state.revision
            if check not in ("ok", "adopt", "pinned"):
                found = await freeze.allow(
                    store, member.route, "resume", emergency_=body.emergency, actor=actor,
                    reason=body.reason, now=now, kind="group_rollout",
                )  # fmt: skip
                if found is not None:
                    urgent[member.route] = found
                moved = step_state(state, member, rollout.step.percent)
                moves[member.route] = (state.revision, moved)
                revision = moved.revision
            members.append(record.fresh(member, revision))
        step = msgspec.structs.replace(
            rollout.step, deadline_at=now + rollout.max_step_s, judging_at=None
        )
        after = record.with_status(
            rollout, now, "running", body.reason, action="resume", actor=actor,
            step=step, members=members, evidence=[],
        )  # fmt: skip
        reason = body.reason + (" (step weights put back)" if moves else "")
        reason += " [emergency]" if urgent else ""
        return await storage.write(
            store,
            rollout.version,
            after,
            audit=("group_rollout.resume", actor, reason),
            states=moves,
            urgent=urgent,
        )

    return await _retry(store, group, attempt)


async def end(
    store: Store, group: str, body: VerbIn, *, kind: str, actor: str, now: float
) -> GroupRollout:
    """abort: every route back to its stable release (always allowed); promote: every candidate
    stable at 100% (refused while any member route is frozen unless `emergency`, which opens a
    needs-review item on every member route)."""
    urgent: dict[str, Emergency] = {}
    if kind == "promote":
        rollout = await current(store, group)  # 404 / 409 before the freeze check
        for member in rollout.members:
            found = await freeze.allow(
                store, member.route, "promote", emergency_=body.emergency, actor=actor,
                reason=body.reason, now=now, kind="group_rollout",
            )  # fmt: skip
            if found is not None:
                urgent[member.route] = found

    async def attempt(rollout: GroupRollout) -> CommitOutcome:
        states = await read_states(store, rollout)
        if kind == "promote" and len(states) < len(rollout.members):
            raise Conflict(
                f"group: a route of the rollout {rollout.id} no longer exists; abort it",
                field="group",
                code="route_missing",
            )
        shape = "promote" if kind == "promote" else "rollback"
        moves: Moves = {}
        members = []
        for member in rollout.members:
            if member.route not in states:  # deleted: an abort ends it on the routes that remain
                continue
            state = states[member.route]
            moved = end_state(state, member, shape)
            moves[member.route] = (state.revision, moved)
            members.append(msgspec.structs.replace(member, revision=moved.revision))
        status: Status = "completed" if kind == "promote" else "aborted"
        after = record.with_status(
            rollout, now, status, body.reason, action=kind, actor=actor, members=members
        )
        return await storage.write(
            store,
            rollout.version,
            after,
            audit=(
                f"group_rollout.{kind}",
                actor,
                body.reason + (" [emergency]" if urgent else ""),
            ),
            states=moves,
            urgent={r: u for r, u in urgent.items() if r in moves},
        )

    return await _retry(store, group, attempt)

"""The operator's verbs on a running rollout: pause, resume, abort (= roll back), promote.

Each is a compare-and-set on the rollout record (and the route's revision when it moves the
route), retried on a concurrent change, audited with the operator as the actor.
"""

from collections.abc import Awaitable, Callable

import msgspec

from control.errors import BROKEN_RULE, BadInput, Conflict, NotFound
from control.rollout import decide, record, storage
from control.rollout.freeze import freeze_refusal
from control.rollout.model import Rollout, Status, VerbIn
from control.rollout.tick import end_state
from control.routes import transitions
from control.routes.views import read
from control.store import CommitOutcome, Store

MAX_ATTEMPTS = 10

Attempt = Callable[[Rollout], Awaitable[CommitOutcome]]


async def _current(store: Store, route: str) -> Rollout:
    await read(store, route)  # 404 for an unknown route
    rollout = await storage.read(store, route)
    if rollout is None:
        raise NotFound(f"route {route!r} has no rollout", field="route")
    if not rollout.active:
        raise Conflict(
            f"route: the rollout of {rollout.release} has ended ({rollout.status})",
            field="route",
            code="rollout_ended",
        )
    return rollout


async def _retry(store: Store, route: str, attempt: Attempt) -> Rollout:
    for _ in range(MAX_ATTEMPTS):
        outcome = await attempt(await _current(store, route))
        if outcome.status == "ok":
            found = await storage.read(store, route)
            assert found is not None
            return found
        if outcome.status == "invalid":
            raise BadInput(
                f"{outcome.field}: {outcome.rule}", field=outcome.field, code=BROKEN_RULE
            )
    raise Conflict(f"route {route!r}: the rollout kept changing; try again", code="busy")


async def pause(store: Store, route: str, body: VerbIn, *, actor: str, now: float) -> Rollout:
    async def attempt(rollout: Rollout) -> CommitOutcome:
        if rollout.status == "paused":
            return CommitOutcome("ok")
        after = record.with_status(rollout, now, "paused", body.reason, action="pause", actor=actor)
        return await storage.put(
            store, rollout.version, after, audit=("rollout.pause", actor, body.reason)
        )

    return await _retry(store, route, attempt)


async def resume(store: Store, route: str, body: VerbIn, *, actor: str, now: float) -> Rollout:
    """Back to running with a fresh deadline; the step's weights are put back if they moved."""

    async def attempt(rollout: Rollout) -> CommitOutcome:
        if rollout.status == "running":
            return CommitOutcome("ok")
        data = await read(store, route)
        state = data.state
        weights = decide.step_weights(rollout, rollout.step.percent)
        check, _ = decide.check_route(
            rollout, state.stable, state.weights_bp, state.revision, state.pinned
        )
        if check in ("ok", "adopt", "pinned"):
            step = msgspec.structs.replace(rollout.step, deadline_at=now + rollout.max_step_s)
            after = record.with_status(
                rollout,
                now,
                "running",
                body.reason,
                action="resume",
                actor=actor,
                step=step,
                revision=state.revision,
            )
            return await storage.put(
                store, rollout.version, after, audit=("rollout.resume", actor, body.reason)
            )
        after_state = transitions.flip(
            msgspec.structs.replace(state, stable=rollout.stable), weights, data.releases
        )
        after = record.stepped(
            rollout, rollout.step.index, after_state.revision, now, body.reason, actor
        )
        return await storage.commit_with_route(
            store,
            state.revision,
            after_state,
            rollout.version,
            after,
            action="rollout.resume",
            actor=actor,
            reason=f"{body.reason} (step weights put back)",
        )

    return await _retry(store, route, attempt)


async def end(
    store: Store, route: str, body: VerbIn, *, kind: str, actor: str, now: float
) -> Rollout:
    """abort: everything back to the rollout's stable release; promote: the candidate stable."""
    if kind == "promote":
        refusal = await freeze_refusal(store, route, "promote", now)
        if refusal is not None:
            raise Conflict(refusal, field="route", code="frozen")

    async def attempt(rollout: Rollout) -> CommitOutcome:
        state = (await read(store, route)).state
        after_state = end_state(state, rollout, "promote" if kind == "promote" else "rollback")
        status: Status = "completed" if kind == "promote" else "aborted"
        after = record.ended(rollout, now, status, kind, body.reason, actor, after_state.revision)
        return await storage.commit_with_route(
            store,
            state.revision,
            after_state,
            rollout.version,
            after,
            action=f"rollout.{kind}",
            actor=actor,
            reason=body.reason,
        )

    return await _retry(store, route, attempt)

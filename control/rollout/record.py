"""Transitions of the rollout record, each returning the next version. Pure; no I/O.

A step transition records the step index and the route revision its commit produces, in the same
atomic script as the route change, so a new leader resumes exactly there: never a step twice,
never one skipped.
"""

from typing import Any

import msgspec

from control.rollout.model import DECISIONS_KEPT, Decision, Rollout, Snapshot, Status, Step

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Rollout)


def encode(rollout: Rollout) -> bytes:
    return _encoder.encode(rollout)


def decode(raw: bytes | str) -> Rollout:
    return _decoder.decode(raw)


def _next(rollout: Rollout, now: float, **changes: Any) -> Rollout:
    return msgspec.structs.replace(rollout, version=rollout.version + 1, **changes)


def decided(
    rollout: Rollout, now: float, action: str, actor: str, reason: str, revision: int | None
) -> list[Decision]:
    entry = Decision(at=now, action=action, actor=actor, reason=reason, revision=revision)
    return [*rollout.decisions, entry][-DECISIONS_KEPT:]


def with_status(
    rollout: Rollout,
    now: float,
    status: Status,
    reason: str,
    *,
    action: str,
    actor: str,
    at_revision: int | None = None,
    **changes: Any,
) -> Rollout:
    return _next(
        rollout,
        now,
        status=status,
        status_reason=reason,
        decisions=decided(rollout, now, action, actor, reason, at_revision),
        **changes,
    )


def new_step(
    rollout: Rollout, index: int, revision: int, now: float, snapshot: Snapshot | None = None
) -> Step:
    """`snapshot`: the counters read just before the step's flip, so judging starts with it."""
    return Step(
        index=index,
        percent=rollout.steps[index],
        revision=revision,
        committed_at=now,
        deadline_at=now + rollout.max_step_s,
        snapshot=snapshot,
    )


def stepped(
    rollout: Rollout,
    index: int,
    revision: int,
    now: float,
    reason: str,
    actor: str,
    snapshot: Snapshot | None = None,
) -> Rollout:
    """The rollout after its route change to step `index` (committed as `revision`)."""
    return with_status(
        rollout,
        now,
        "running",
        reason,
        action="step",
        actor=actor,
        at_revision=revision,
        step=new_step(rollout, index, revision, now, snapshot),
        revision=revision,
        evidence=[],
        srm=None,
    )


def ended(
    rollout: Rollout,
    now: float,
    status: Status,
    action: str,
    reason: str,
    actor: str,
    revision: int,
) -> Rollout:
    return with_status(
        rollout,
        now,
        status,
        reason,
        action=action,
        actor=actor,
        at_revision=revision,
        revision=revision,
    )


def with_snapshots(
    rollout: Rollout, snapshot: Snapshot | None, srm_snapshot: Snapshot | None
) -> Rollout:
    step = msgspec.structs.replace(
        rollout.step,
        snapshot=snapshot or rollout.step.snapshot,
        srm_snapshot=srm_snapshot or rollout.step.srm_snapshot,
    )
    return msgspec.structs.replace(rollout, version=rollout.version + 1, step=step)

"""Transitions of the group rollout record, each returning the next version. Pure; no I/O."""

from typing import Any

import msgspec

from control.grouprollout.model import DECISIONS_KEPT, GroupRollout, GroupStep, Member
from control.rollout.model import Decision, Status


def bumped(rollout: GroupRollout, **changes: Any) -> GroupRollout:
    return msgspec.structs.replace(rollout, version=rollout.version + 1, **changes)


def with_status(
    rollout: GroupRollout,
    now: float,
    status: Status,
    reason: str,
    *,
    action: str,
    actor: str,
    **changes: Any,
) -> GroupRollout:
    entry = Decision(at=now, action=action, actor=actor, reason=reason)
    return bumped(
        rollout,
        status=status,
        status_reason=reason,
        decisions=[*rollout.decisions, entry][-DECISIONS_KEPT:],
        **changes,
    )


def new_step(rollout: GroupRollout, index: int, now: float, judging: bool) -> GroupStep:
    """`judging`: every member's counters were read just before the step's flip."""
    return GroupStep(
        index=index,
        percent=rollout.steps[index],
        committed_at=now,
        deadline_at=now + rollout.max_step_s,
        judging_at=now if judging else None,
    )


def fresh(member: Member, revision: int, snapshot: Any = None) -> Member:
    """A member at a new step (or a restarted one): its counts measured afresh."""
    return msgspec.structs.replace(
        member,
        revision=revision,
        snapshot=snapshot,
        srm_snapshot=None,
        srm=None,
        canary_requests=0,
        baseline_requests=0,
    )

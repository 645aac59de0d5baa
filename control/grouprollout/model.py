"""A group rollout's shapes: what an operator asks for and the record the controller keeps in
Redis (`keyspace.group_rollout(group)`). Plain Structs; no I/O here.

The policy fields are a route rollout's (`control.rollout.model`), so the same policies, guards
and decisions apply; per route the record keeps its candidate, stable release, revision and the
counters its step is measured from.
"""

import msgspec

from control.rollout.model import (
    DECISIONS_KEPT,
    TERMINAL,
    Decision,
    Guard,
    HistoryPoint,
    OnInconclusive,
    PolicyOverrides,
    Progress,
    Reason,
    Snapshot,
    Srm,
    Status,
)
from control.rollout.statistics import Evidence

__all__ = [
    "DECISIONS_KEPT",
    "GroupRollout",
    "GroupRolloutIn",
    "GroupRolloutView",
    "GroupStep",
    "Member",
]


class GroupRolloutIn(PolicyOverrides, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Body of `POST /admin/groups/{group}/rollouts`: the candidate of every route of the group;
    the other fields as a route rollout's (`RolloutIn`), from the policy of the combined change
    type when omitted. `emergency`: start although a member route is frozen, as a route
    rollout's start (audited; a needs-review item on every member route). As for a route
    rollout, the controller still never overrides a freeze: a ready step waits at its boundary."""

    releases: dict[str, str]  # route -> its candidate release, for every route of the group
    reason: Reason
    skip_gate: bool = False  # start without a passing eval gate on every route (audited)
    emergency: bool = False  # start in a freeze (audited, opens a needs-review item per route)


class Member(msgspec.Struct, frozen=True, kw_only=True):
    """One route of the group in the rollout, with its step's counters."""

    route: str
    release: str  # its candidate
    stable: str  # its baseline at the start
    change_type: str
    revision: int  # the last route revision the rollout knows about
    snapshot: Snapshot | None = None  # counters when the step's judging began
    srm_snapshot: Snapshot | None = None  # counters once the flip settled (its SRM check)
    srm: Srm | None = None  # this route's split check at the last look
    canary_requests: int = 0  # since the step's judging began (at the last look)
    baseline_requests: int = 0


class GroupStep(msgspec.Struct, frozen=True, kw_only=True):
    index: int  # into `steps`
    percent: float  # canary weight of every route
    committed_at: float  # epoch s
    deadline_at: float  # committed_at + max_step_s (moved by `extend`)
    judging_at: float | None = None  # when every member's snapshot was taken


class GroupRollout(msgspec.Struct, frozen=True, kw_only=True):
    """The stored record; `version` is compare-and-set by every write."""

    version: int
    id: str  # shared by the audit entries of every member route
    group: str
    members: list[Member]  # sorted by route
    change_type: str  # the members' change type, or "several" when they differ
    policy: str
    steps: list[float]
    min_bake_s: float
    min_requests: int
    max_step_s: float
    on_inconclusive: OnInconclusive
    alpha: float
    guard_alpha: float
    guards: list[Guard]
    skip_gate: bool
    reason: str
    actor: str
    started_at: float
    status: Status
    status_reason: str
    step: GroupStep
    canary_requests: int = 0  # pooled over the members, since the step's judging began
    baseline_requests: int = 0
    evidence: list[Evidence] = []  # the latest look of the combined guards
    decisions: list[Decision] = []  # the newest `DECISIONS_KEPT`

    @property
    def active(self) -> bool:
        return self.status not in TERMINAL

    def member(self, route: str) -> Member:
        return next(m for m in self.members if m.route == route)


class GroupRolloutView(msgspec.Struct, frozen=True, kw_only=True):
    """What the group rollout endpoints answer (and the CLI decodes)."""

    rollout: GroupRollout
    progress: Progress | None  # None when not running
    history: list[HistoryPoint]

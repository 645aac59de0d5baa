"""A canary rollout's shapes: what an operator asks for, the policy it resolves to, and the record
the controller keeps in Redis (`keyspace.rollout(route)`). Plain Structs; no I/O here.
"""

from typing import Annotated, Literal

import msgspec

from control.rollout.statistics import Evidence

Metric = Literal["error_rate", "thumbs_down_rate", "score", "latency"]
Status = Literal["running", "holding", "paused", "rolled_back", "completed", "aborted"]
OnInconclusive = Literal["pause", "extend"]
TERMINAL: frozenset[str] = frozenset({"rolled_back", "completed", "aborted"})

Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=7 * 24 * 3600)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class GuardIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One quality guard. Rates and margins are absolute (0.02 = 2 percentage points); for the
    score a drop of the mean; for latency `margin` is the tolerated slow-down (0.25 = 25%)."""

    metric: Metric
    margin: Fraction | None = None  # pass (non-inferior) when the upper bound is below it
    tau: Fraction | None = None  # the smallest regression worth catching (mixture scale)
    tolerated: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0  # fail when lower bound > it
    hard_ceiling: Fraction | None = None  # rates: roll back at once above this observed rate…
    hard_min_n: Annotated[int, msgspec.Meta(ge=1)] = 20  # …over at least this many canary trials
    min_samples: Annotated[int, msgspec.Meta(ge=1)] | None = None  # per arm before a verdict


class Guard(msgspec.Struct, frozen=True, kw_only=True):
    """A guard with every default filled in, as stored and shown in the rollout."""

    metric: Metric
    margin: float
    tau: float
    tolerated: float
    hard_ceiling: float | None
    hard_min_n: int
    min_samples: int


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How carefully a change type is rolled out (settings hold one per change type)."""

    steps: list[float]  # canary percent per step; passing the last step promotes
    min_bake_s: Seconds  # a step is judged for at least this long…
    min_requests: Annotated[int, msgspec.Meta(ge=0)]  # …and over at least this many canary calls
    max_step_s: Annotated[float, msgspec.Meta(gt=0)]  # then inconclusive: pause or extend
    on_inconclusive: OnInconclusive = "pause"
    alpha: Annotated[float, msgspec.Meta(gt=0, lt=0.5)] = 0.05  # split across the guards
    guards: list[GuardIn] = []


class PolicyOverrides(msgspec.Struct, frozen=True, kw_only=True):
    """What a rollout's start may override of its policy (a route's rollout or a group's); an
    omitted field comes from the policy of the change type (settings)."""

    steps: list[float] | None = None
    min_bake_s: Seconds | None = None
    min_requests: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max_step_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    guards: list[GuardIn] | None = None
    on_inconclusive: OnInconclusive | None = None
    alpha: Annotated[float, msgspec.Meta(gt=0, lt=0.5)] | None = None


class RolloutIn(PolicyOverrides, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Body of `POST /admin/routes/{route}/rollouts`. Omitted fields come from the policy of the
    release's change type (settings); what was overridden is shown in the rollout."""

    release: str
    reason: Reason
    skip_gate: bool = False  # start without a passing eval gate (audited with the reason)
    emergency: bool = False  # start in a freeze (audited, opens a needs-review item)


class VerbIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Body of the operator verbs pause, resume, abort and promote."""

    reason: Reason
    # promote in a freeze, or resume in one when that puts the step's weights back (audited,
    # opens a needs-review item); pause and abort are always allowed and ignore it
    emergency: bool = False


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The two arms' telemetry counters at a moment: later counts are measured from it."""

    at: float  # epoch s
    minute: int  # the bucket the counters were read from (and every later one is summed)
    fields: dict[str, int]  # bucket fields of the canary and stable releases in that minute


class Step(msgspec.Struct, frozen=True, kw_only=True):
    index: int  # into `steps`
    percent: float  # canary weight
    revision: int  # the route revision this step's commit produced (idempotent transitions)
    committed_at: float  # epoch s
    deadline_at: float  # committed_at + max_step_s (moved by `extend`)
    snapshot: Snapshot | None = None  # counters when judging began (the next tick)
    srm_snapshot: Snapshot | None = None  # counters once the flip settled (for the SRM check)


class Srm(msgspec.Struct, frozen=True, kw_only=True):
    """The split check (decide.srm_check); p-values are sequential (always valid at any look)."""

    requests: dict[str, int]  # per arm since the split settled: drawn per call, or pinned
    requests_p: float | None
    keys: dict[str, int]  # distinct sticky keys per arm (sticky routes; see tick._split_keys)
    keys_p: float | None
    mismatch: bool
    keyed: dict[str, int] = {}  # calls placed by their sticky key (judged by `keys`)


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    action: str  # start, step, hold, pause, resume, extend, rollback, promote, abort
    actor: str
    reason: str
    revision: int | None = None


class Rollout(msgspec.Struct, frozen=True, kw_only=True):
    """The stored record; `version` is compare-and-set by every write."""

    version: int
    route: str
    release: str  # the candidate
    stable: str  # the baseline at the start
    change_type: str
    policy: str  # e.g. "model defaults; overridden: steps, guards"
    steps: list[float]
    min_bake_s: float
    min_requests: int
    max_step_s: float
    on_inconclusive: OnInconclusive
    alpha: float
    guard_alpha: float  # alpha per guard (split across them)
    guards: list[Guard]
    skip_gate: bool
    reason: str
    actor: str
    started_at: float
    status: Status
    status_reason: str
    step: Step
    revision: int  # the last route revision the rollout knows about
    canary_requests: int = 0  # since the step's judging began (at the last look)
    baseline_requests: int = 0
    evidence: list[Evidence] = []  # the latest look, one per guard
    srm: Srm | None = None
    decisions: list[Decision] = []  # the newest `DECISIONS_KEPT`

    @property
    def active(self) -> bool:
        return self.status not in TERMINAL


class HistoryPoint(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One look, for plotting: [time, step, [[metric, verdict, estimate, lower, upper], …]]."""

    at: float
    step: int
    guards: list[tuple[str, str, float, float, float]]

    @classmethod
    def of(cls, at: float, step: int, evidence: list[Evidence]) -> "HistoryPoint":
        """The point of one look from its guards' evidence."""
        guards: list[tuple[str, str, float, float, float]] = [
            (e.metric, e.verdict, e.estimate, e.lower, e.upper) for e in evidence
        ]
        return cls(at=at, step=step, guards=guards)


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """How far the current step is from its next decision."""

    bake_remaining_s: float
    requests_remaining: int
    until_deadline_s: float
    fraction: float  # 0..1: the slower of bake time and requests


class RolloutView(msgspec.Struct, frozen=True, kw_only=True):
    rollout: Rollout
    progress: Progress | None  # None when not running
    history: list[HistoryPoint]


DECISIONS_KEPT = 50

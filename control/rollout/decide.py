"""What the controller does at one look at a rollout: pure functions over the rollout record,
the route's state and the two arms' counts. No I/O, no clock (the time is given).

Order of a look: the route must still be where the rollout put it (else hold, pause or end);
hard ceilings act at once; a sample-ratio mismatch holds without judging (`srm_check`, at the
randomisation unit: see there); any failing guard rolls back; when the step has baked long enough
with enough canary calls and every guard passes, it waits while the route is frozen, else the
latency look (planned, at the step's end) decides between advancing and rolling back; a step past
its deadline without a verdict pauses or extends.
"""

from typing import Literal, Protocol

import msgspec

from control.rollout.counts import Arm
from control.rollout.model import Guard, Rollout, Srm
from control.rollout.srm import HLL_RELATIVE_ERROR, SRM_SEQUENTIAL_ALPHA, sequential_srm_p_value
from control.rollout.statistics import (
    Evidence,
    hard_ceiling,
    latency_guard,
    rare_rate_guard,
    rate_guard,
    score_guard,
    split_alpha,
)
from gateway.contract.bucketing import BUCKETS

RouteCheck = Literal["ok", "adopt", "pinned", "manual", "rolled_back", "promoted"]
Action = Literal["wait", "rollback", "advance", "hold", "timeout"]


class Look(msgspec.Struct, frozen=True, kw_only=True):
    action: Action
    reason: str
    evidence: list[Evidence]


def step_bp(percent: float) -> int:
    return round(percent * 100)


def step_weights(rollout: Rollout, percent: float) -> dict[str, int]:
    canary = step_bp(percent)
    return {rollout.stable: BUCKETS - canary, rollout.release: canary}


def _nonzero(weights: dict[str, int]) -> dict[str, int]:
    return {release: bp for release, bp in weights.items() if bp > 0}


def check_route(
    rollout: Rollout, stable: str, weights_bp: dict[str, int], revision: int, pinned: bool
) -> tuple[RouteCheck, str]:
    """Is the route still where this rollout put it? (Any change bumps the revision.)"""
    return check_weights(
        rollout.release,
        rollout.stable,
        rollout.step.percent,
        rollout.revision,
        stable,
        weights_bp,
        revision,
        pinned,
    )


def check_weights(
    release: str,
    baseline: str,
    percent: float,
    known_revision: int,
    stable: str,
    weights_bp: dict[str, int],
    revision: int,
    pinned: bool,
) -> tuple[RouteCheck, str]:
    """`check_route` for a candidate `release` against `baseline` at `percent`, last seen at
    `known_revision` (a group rollout asks it for each of its routes)."""
    weights = _nonzero(weights_bp)
    canary = step_bp(percent)
    expected = _nonzero({baseline: BUCKETS - canary, release: canary})
    if stable == baseline and weights == expected:
        if pinned:
            return "pinned", "the route is pinned: the controller does not move it until unpinned"
        if revision != known_revision:
            return "adopt", ""  # pinned/unpinned or a release added: same pointer
        return "ok", ""
    if stable == baseline and weights == {baseline: BUCKETS}:
        return "rolled_back", f"route rolled back outside the rollout (revision {revision})"
    if stable == release and weights == {release: BUCKETS}:
        return "promoted", f"{release} promoted outside the rollout (revision {revision})"
    return "manual", (
        f"weights changed outside the rollout at revision {revision} "
        f"(now {', '.join(f'{r}={bp / 100:g}%' for r, bp in sorted(weights.items()))}); "
        "resume puts the step's weights back"
    )


def srm_check(
    percent: float,
    requests: dict[str, int],
    keys: dict[str, int] | None,
    canary: str,
    stable: str,
    keyed: dict[str, int] | None = None,
) -> Srm:
    """Observed vs configured split, judged at the unit that was randomised.

    `requests` are the calls drawn per call (a non-sticky route, or no sticky key) plus pinned
    calls; `keyed` the calls placed by their sticky key, left out of the request test because
    one user's calls all go one way (clustered: thousands of calls from a few heavy users are
    not thousands of independent draws); their distinct keys per release (`keys`, HyperLogLog
    counts, None on a non-sticky route or before its first minute) are the draws instead.
    Pinned calls are not part of the split at all: counting them among the per-call draws makes
    traffic pinned to one arm a mismatch, as it is for the canary's evidence, which includes it.
    Both tests are sequential (always valid at every tick, see `srm`), so a look every tick
    holds an exact split by mistake in at most 2·SRM_SEQUENTIAL_ALPHA of steps.
    """
    share = {canary: percent / 100, stable: 1 - percent / 100}

    def p_value(observed: dict[str, int] | None, relative_error: float) -> float | None:
        if observed is None or sum(observed.values()) == 0:
            return None  # no evidence yet (the mixture test is valid from the first count)
        return sequential_srm_p_value(observed, share, count_relative_error=relative_error)

    requests_p = p_value(requests, 0.0)
    keys_p = p_value(keys, HLL_RELATIVE_ERROR)
    mismatch = any(p is not None and p < SRM_SEQUENTIAL_ALPHA for p in (requests_p, keys_p))
    return Srm(
        requests=requests,
        requests_p=requests_p,
        keys=keys or {},
        keys_p=keys_p,
        mismatch=mismatch,
        keyed=keyed or {},
    )


def ceiling_breach(guards: list[Guard], canary: Arm) -> str | None:
    """Why the canary must roll back at once (a guard's hard ceiling), or None."""
    for guard in guards:
        breach = _ceiling(guard, canary)
        if breach is not None:
            return breach
    return None


def _ceiling(guard: Guard, canary: Arm) -> str | None:
    if guard.hard_ceiling is None:
        return None
    counts = canary.errors if guard.metric == "error_rate" else canary.ratings
    if not hard_ceiling(counts, ceiling=guard.hard_ceiling, min_n=guard.hard_min_n):
        return None
    rate = counts.events / counts.n if counts.n else 0.0
    unit = "calls" if guard.metric == "error_rate" else "ratings"
    return (
        f"hard ceiling: {guard.metric} {rate:.1%} over {counts.n} canary {unit} "
        f"is above {guard.hard_ceiling:.1%}"
    )


def evaluate(guard: Guard, canary: Arm, baseline: Arm, alpha: float) -> Evidence:
    """One continuously monitored guard (not latency) at this look."""
    if guard.metric == "error_rate":
        return rare_rate_guard(
            canary.errors,
            baseline.errors,
            alpha=alpha,
            min_samples=guard.min_samples,
            margin=guard.margin,
            tolerated=guard.tolerated,
        )
    if guard.metric == "thumbs_down_rate":
        return rate_guard(
            canary.ratings,
            baseline.ratings,
            tau=guard.tau,
            margin=guard.margin,
            tolerated=guard.tolerated,
            alpha=alpha,
            min_samples=guard.min_samples,
            metric=guard.metric,
        )
    return score_guard(
        canary.scores,
        baseline.scores,
        tau=guard.tau,
        margin=guard.margin,
        tolerated=guard.tolerated,
        alpha=alpha,
        min_samples=guard.min_samples,
    )


class StepLike(Protocol):
    @property
    def deadline_at(self) -> float: ...


class Plan(Protocol):
    """What `look` reads of a rollout: a route's (`Rollout`) or a group's."""

    @property
    def guards(self) -> list[Guard]: ...
    @property
    def guard_alpha(self) -> float: ...
    @property
    def min_bake_s(self) -> float: ...
    @property
    def min_requests(self) -> int: ...
    @property
    def steps(self) -> list[float]: ...
    @property
    def step(self) -> StepLike: ...


def look(
    rollout: Plan,
    canary: Arm,
    baseline: Arm,
    srm: Srm | None,
    baked_s: float,
    now: float,
    waiting: str | None = None,
    ceilings: bool = True,
) -> Look:
    """The decision at one tick of a running step (the route already checked). `waiting`: why
    the route may not move forward now (a freeze window): a step ready to advance holds with
    that reason instead, before its planned latency look (which runs once, when it may move).
    `ceilings`: False when the caller checked the hard ceilings itself (a group, per route)."""
    breach = ceiling_breach(rollout.guards, canary) if ceilings else None
    if breach is not None:
        return Look(action="rollback", reason=breach, evidence=[])
    if srm is not None and srm.mismatch:
        return Look(action="hold", reason=srm_reason(srm), evidence=[])
    continuous = [g for g in rollout.guards if g.metric != "latency"]
    evidence = [evaluate(g, canary, baseline, rollout.guard_alpha) for g in continuous]
    failed = [e for e in evidence if e.verdict == "fail"]
    if failed:
        return Look(action="rollback", reason=_verdicts("regression", failed), evidence=evidence)
    ready = baked_s >= rollout.min_bake_s and canary.requests >= rollout.min_requests
    if ready and all(e.verdict == "pass" for e in evidence):
        if waiting is not None:
            return Look(action="hold", reason=waiting, evidence=evidence)
        latency = [g for g in rollout.guards if g.metric == "latency"]
        for guard in latency:  # the planned look, alpha split across the canary steps
            found = latency_guard(
                canary.latency,
                baseline.latency,
                alpha=split_alpha(rollout.guard_alpha, canary_steps(rollout)),
                tolerance=guard.margin,
                min_samples=guard.min_samples,
            )
            evidence.append(found)
            if found.verdict == "fail":
                return Look(
                    action="rollback", reason=_verdicts("regression", [found]), evidence=evidence
                )
        return Look(
            action="advance", reason=_verdicts("quality holds", evidence), evidence=evidence
        )
    if now >= rollout.step.deadline_at:
        open_ = [e for e in evidence if e.verdict != "pass"]
        return Look(
            action="timeout",
            reason=_verdicts("inconclusive at the step's deadline", open_)
            if open_
            else f"step not baked at its deadline ({canary.requests} canary calls)",
            evidence=evidence,
        )
    return Look(action="wait", reason="", evidence=evidence)


def canary_steps(rollout: Plan) -> int:
    return max(sum(1 for s in rollout.steps if s < 100), 1)


def _verdicts(head: str, evidence: list[Evidence]) -> str:
    parts = [
        f"{e.metric} {e.verdict} (Δ {e.estimate:+.4f}, bounds [{e.lower:+.4f}, {e.upper:+.4f}], "
        f"n {e.n_canary}/{e.n_baseline})"
        for e in evidence
    ]
    return f"{head}: {'; '.join(parts)}" if parts else head


def srm_reason(srm: Srm) -> str:
    parts = []
    if srm.requests_p is not None and srm.requests_p < SRM_SEQUENTIAL_ALPHA:
        parts.append(f"requests drawn per call or pinned {srm.requests} (p = {srm.requests_p:.2g})")
    if srm.keys_p is not None and srm.keys_p < SRM_SEQUENTIAL_ALPHA:
        parts.append(f"distinct sticky keys {srm.keys} (p = {srm.keys_p:.2g})")
    return (
        "sample-ratio mismatch, not judging: observed split differs from the configured one: "
        + "; ".join(parts)
    )


def guard_alpha(alpha: float, guards: list[Guard]) -> float:
    return split_alpha(alpha, max(len(guards), 1))

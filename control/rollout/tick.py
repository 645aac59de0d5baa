"""One look of the leader at one route's rollout: read, decide (`decide`), write.

Every write carries the leader's fencing token and compare-and-sets the rollout's version (and,
for a route change, the route's revision), so a refused write changes nothing and the next tick
simply looks again.
"""

import msgspec

from control import homes, keyspace
from control.rollout import counts, decide, freeze, record, storage
from control.rollout.model import HistoryPoint, Rollout, Status
from control.routes import transitions
from control.routes.views import decode_state
from control.store import CommitOutcome, Store
from gateway.contract import keys
from gateway.contract.bucketing import BUCKETS
from gateway.contract.snapshot import RouteState

ACTOR = "controller"


class Tick:
    """Context of one look: the store, the leader's fencing token, the time and settings."""

    def __init__(self, store: Store, fence: int, now: float, settle_s: float) -> None:
        self.store = store
        self.fence = fence
        self.now = now
        self.settle_s = settle_s
        self.fenced = False  # a newer leader has written: this replica must step down

    def note(self, outcome: CommitOutcome) -> None:
        if outcome.status == "fenced":
            self.fenced = True

    async def put(
        self,
        before: Rollout,
        after: Rollout,
        audit: tuple[str, str] | None = None,
        point: HistoryPoint | None = None,
    ) -> None:
        outcome = await storage.put(
            self.store,
            before.version,
            after,
            fence=self.fence,
            audit=(audit[0], ACTOR, audit[1]) if audit else None,
            point=point,
        )
        self.note(outcome)

    async def status(self, rollout: Rollout, status: Status, action: str, reason: str) -> None:
        """Change the status, audited; while it stays (a hold whose figures move) only the
        record's reason follows, so a long hold is one audit entry, not one per tick."""
        if rollout.status == status:
            if rollout.status_reason != reason:
                after = msgspec.structs.replace(
                    rollout, version=rollout.version + 1, status_reason=reason
                )
                await self.put(rollout, after)
            return
        after = record.with_status(rollout, self.now, status, reason, action=action, actor=ACTOR)
        await self.put(rollout, after, (f"rollout.{action}", reason))


async def look_at(tick: Tick, route: str) -> None:
    rollout = await storage.read(tick.store, route)
    if rollout is None or not rollout.active:
        await tick.store.redis.srem(keyspace.ROLLOUTS_ACTIVE, route)
        return
    raw = await tick.store.redis.get(
        keys.route_state(route, await homes.group_of(tick.store.redis, route))
    )
    if raw is None:
        return
    state = decode_state(raw)
    check, why = decide.check_route(
        rollout, state.stable, state.weights_bp, state.revision, state.pinned
    )
    if check in ("rolled_back", "promoted"):
        status: Status = "aborted" if check == "rolled_back" else "completed"
        after = record.ended(rollout, tick.now, status, "end", why, ACTOR, state.revision)
        await tick.put(rollout, after, ("rollout.end", why))
        return
    if check == "manual":
        if rollout.status != "paused":
            await tick.status(rollout, "paused", "pause", why)
        return
    if check == "adopt":
        rollout = await _adopt(tick, rollout, state.revision)
    if rollout.status == "paused":
        return
    kill = freeze.killed(state)
    if kill is not None:  # the kill switch overrides the rollout: paused for a human
        await _pause_for_kill(tick, rollout, kill)
        return
    if check == "pinned":
        await tick.status(rollout, "holding", "hold", why)
        return
    await _judge(tick, rollout, state)


async def _pause_for_kill(tick: Tick, rollout: Rollout, why: str) -> None:
    """Paused, its step's counters dropped: while killed the canary gets no calls, so judging
    starts afresh from the first look after an operator resumes."""
    step = msgspec.structs.replace(rollout.step, snapshot=None, srm_snapshot=None)
    after = record.with_status(
        rollout, tick.now, "paused", why, action="pause", actor=ACTOR, step=step, evidence=[]
    )
    await tick.put(rollout, after, ("rollout.pause", why))


async def _adopt(tick: Tick, rollout: Rollout, revision: int) -> Rollout:
    after = msgspec.structs.replace(rollout, version=rollout.version + 1, revision=revision)
    await tick.put(rollout, after)
    return after


async def _judge(tick: Tick, rollout: Rollout, state: RouteState) -> None:
    redis, route, step = tick.store.redis, rollout.route, rollout.step
    arms = (rollout.release, rollout.stable)
    if step.snapshot is None:  # judging begins: counts are measured from here (a step whose
        # flip did not read the counters first, e.g. one put back by an operator's resume)
        snapshot = await counts.take_snapshot(redis, route, arms, tick.now)
        await tick.put(rollout, record.with_snapshots(rollout, snapshot, None))
        return
    if step.srm_snapshot is None and tick.now >= step.committed_at + tick.settle_s:
        snapshot = await counts.take_snapshot(redis, route, arms, tick.now)
        after = record.with_snapshots(rollout, None, snapshot)
        await tick.put(rollout, after)
        return
    buckets = await counts.read_since(redis, route, step.snapshot.minute, tick.now)
    canary, baseline = counts.arms(buckets, step.snapshot, *arms)
    srm = None
    if step.srm_snapshot is not None:
        skip = step.srm_snapshot.minute - step.snapshot.minute
        srm_canary, srm_baseline = counts.arms(buckets[skip:], step.srm_snapshot, *arms)
        srm = decide.srm_check(
            step.percent,
            {
                rollout.release: srm_canary.requests - srm_canary.keyed,
                rollout.stable: srm_baseline.requests - srm_baseline.keyed,
            },
            await _split_keys(tick, rollout, step.srm_snapshot.minute) if state.sticky else None,
            *arms,
            keyed={rollout.release: srm_canary.keyed, rollout.stable: srm_baseline.keyed},
        )
    window = await freeze.frozen(tick.store, route, tick.now)
    found = decide.look(
        rollout,
        canary,
        baseline,
        srm,
        tick.now - step.snapshot.at,
        tick.now,
        waiting=freeze.waiting(window) if window is not None else None,
    )
    looked = msgspec.structs.replace(
        rollout,
        evidence=found.evidence or rollout.evidence,
        srm=srm,
        canary_requests=canary.requests,
        baseline_requests=baseline.requests,
    )
    point = HistoryPoint.of(tick.now, step.index, found.evidence)
    if found.action == "rollback":
        await _route_change(tick, rollout, looked, state, "rollback", found.reason)
    elif found.action == "advance":
        await _advance(tick, rollout, looked, state, found.reason)
    elif found.action == "hold":
        await tick.status(looked_from(rollout, looked), "holding", "hold", found.reason)
    elif found.action == "timeout":
        await _timeout(tick, rollout, looked, found.reason)
    else:
        after = msgspec.structs.replace(looked, version=rollout.version + 1)
        if rollout.status == "holding":  # the hold's cause (SRM, a pin) has cleared
            after = record.with_status(
                looked, tick.now, "running", "hold cleared", action="resume", actor=ACTOR
            )
            await tick.put(rollout, after, ("rollout.resume", "hold cleared"), point)
            return
        await tick.put(rollout, after, None, point)


async def _split_keys(tick: Tick, rollout: Rollout, settled_minute: int) -> dict[str, int] | None:
    """Distinct sticky keys per arm since the first minute that began after the split settled,
    up to and with the current minute (the gateways' flushes keep adding to it, so the count is
    there from the first flush of that minute). The minute of the flip itself stays out: its
    HyperLogLogs hold keys served at the old weights, and users who move to the canary at the
    flip would be in the stable release's count too. None until that minute has begun."""
    first, last = settled_minute + 1, counts.minute_of(tick.now)
    if last < first:
        return None
    arms = (rollout.release, rollout.stable)
    return await counts.distinct_keys(tick.store.redis, rollout.route, arms, first, last)


def looked_from(rollout: Rollout, looked: Rollout) -> Rollout:
    """`looked` under `rollout`'s version (the status write bumps it once)."""
    return msgspec.structs.replace(looked, version=rollout.version)


async def _timeout(tick: Tick, rollout: Rollout, looked: Rollout, reason: str) -> None:
    if rollout.on_inconclusive == "extend":
        step = msgspec.structs.replace(rollout.step, deadline_at=tick.now + rollout.max_step_s)
        after = record.with_status(
            looked, tick.now, "running", reason, action="extend", actor=ACTOR, step=step
        )
        await tick.put(rollout, after, ("rollout.extend", reason))
        return
    await tick.status(looked_from(rollout, looked), "paused", "pause", reason)


async def _advance(
    tick: Tick, rollout: Rollout, looked: Rollout, state: RouteState, reason: str
) -> None:
    following = rollout.step.index + 1
    if following >= len(rollout.steps) or rollout.steps[following] >= 100:
        await _route_change(tick, rollout, looked, state, "promote", reason)
        return
    weights = decide.step_weights(rollout, rollout.steps[following])
    after_state = transitions.flip(state, weights, set(weights))
    # Counted from just before the flip: the next look already judges the new step.
    snapshot = await counts.take_snapshot(
        tick.store.redis, rollout.route, (rollout.release, rollout.stable), tick.now
    )
    after = record.stepped(
        looked, following, after_state.revision, tick.now, reason, ACTOR, snapshot
    )
    outcome = await storage.commit_with_route(
        tick.store,
        state.revision,
        after_state,
        rollout.version,
        after,
        action="rollout.step",
        actor=ACTOR,
        reason=f"step {following + 1}/{len(rollout.steps)}: {rollout.release} at "
        f"{rollout.steps[following]:g}%; {reason}",
        fence=tick.fence,
        judged=looked,
    )
    tick.note(outcome)


def end_state(state: RouteState, rollout: Rollout, kind: str) -> RouteState:
    """The route after a rollback (all to the rollout's stable) or promotion (candidate 100%)."""
    if kind == "promote":
        return transitions.promote(state, rollout.release, {rollout.release})
    return msgspec.structs.replace(
        state, revision=state.revision + 1, weights_bp={rollout.stable: BUCKETS}
    )


async def _route_change(
    tick: Tick, rollout: Rollout, looked: Rollout, state: RouteState, kind: str, reason: str
) -> None:
    """Roll back (all to stable) or promote (the candidate stable at 100%)."""
    status: Status = "completed" if kind == "promote" else "rolled_back"
    after_state = end_state(state, rollout, kind)
    after = record.ended(looked, tick.now, status, kind, reason, ACTOR, after_state.revision)
    outcome = await storage.commit_with_route(
        tick.store,
        state.revision,
        after_state,
        rollout.version,
        after,
        action=f"rollout.{kind}",
        actor=ACTOR,
        reason=reason,
        fence=tick.fence,
    )
    tick.note(outcome)

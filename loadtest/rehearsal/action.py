"""The release action of a scenario, played at its times during the load: manual flips, a
rollout started and then followed until the controller decides, or a rollback at T.

The outcome is the rollout's status in the rehearsal's words (promoted, rolled_back, held,
paused), or `applied` once a schedule or rollback has been carried out.
"""

import asyncio
from dataclasses import dataclass, field

from loadtest.rehearsal.admin import Admin
from loadtest.rehearsal.scenario import Rollback, Rollout, Scenario, Schedule
from loadtest.rehearsal.watch import Clock, RevisionWatch, RouteWatch

OUTCOME_OF_STATUS = {
    "completed": "promoted",
    "rolled_back": "rolled_back",
    "holding": "held",
    "paused": "paused",
    "aborted": "aborted",
}
_FOLLOW_S = 0.1


@dataclass
class Played:
    """What the action did: each flip it made (load time, new revision), and the outcome."""

    flips: list[tuple[float, int]] = field(default_factory=list)
    outcome: str | None = None
    outcome_at_s: float | None = None
    reason: str = ""


async def _until(clock: Clock, at_s: float, stop: asyncio.Event) -> bool:
    """Sleep until load time `at_s`; False when the run stopped first."""
    while not stop.is_set():
        wait = at_s - clock()
        if wait <= 0:
            return True
        await asyncio.sleep(min(wait, 0.05))
    return False


async def play(
    scenario: Scenario,
    admin: Admin,
    clock: Clock,
    revisions: RevisionWatch,
    route_watch: RouteWatch,
    stop: asyncio.Event,
    played: Played,
) -> None:
    action = scenario.action
    route = scenario.route.name
    if isinstance(action, Schedule):
        for flip in action.flips():
            if not await _until(clock, flip.at_s, stop):
                return
            revisions.expect()
            revision = await admin.set_weights(route, flip.weights, "rehearsal: scheduled flip")
            revisions.expect(revision)
            played.flips.append((clock(), revision))
        _decided(played, clock, "applied", "every scheduled flip was made")
    elif isinstance(action, Rollback):
        if not await _until(clock, action.at_s, stop):
            return
        revisions.expect()
        revision = await admin.rollback(route, "rehearsal: rollback at T")
        revisions.expect(revision)
        played.flips.append((clock(), revision))
        _decided(played, clock, "applied", "rolled back by hand")
    elif isinstance(action, Rollout):
        if not await _until(clock, action.at_s, stop):
            return
        revisions.expect()
        view = await admin.start_rollout(route, action)
        revisions.expect(int(view["rollout"]["revision"]))
        played.flips.append((clock(), int(view["rollout"]["revision"])))
        await _follow(clock, route_watch, stop, played)


async def _follow(
    clock: Clock, route_watch: RouteWatch, stop: asyncio.Event, played: Played
) -> None:
    """Until the controller reaches a decision that ends or holds the rollout."""
    while not stop.is_set():
        found = await route_watch.refresh()
        rollout = (found or {}).get("rollout")
        status = rollout["status"] if rollout else None
        if status in OUTCOME_OF_STATUS:
            assert rollout is not None
            _decided(played, clock, OUTCOME_OF_STATUS[status], rollout["status_reason"])
            return
        await asyncio.sleep(_FOLLOW_S)


def _decided(played: Played, clock: Clock, outcome: str, reason: str) -> None:
    played.outcome = outcome
    played.outcome_at_s = clock()
    played.reason = reason

"""Freeze windows and the kill switch as the rollout controller sees them.

Freeze windows (`control.windows`): starting a rollout and promoting it are refused with a 409
naming the window (`Frozen`) unless the operator says `emergency: true` with a reason, which
opens a needs-review item in the same atomic step as the change (`control.routes.emergencies`).
The controller never overrides a freeze: a step that is ready to advance waits at its boundary
("waiting for window …") and moves on at the first look after the window ends. Rollbacks,
automatic or manual, never ask.

The kill switch (`RouteState.kill_switch`) overrides a running rollout: the controller pauses it
(see `killed`), and a rollout cannot start or resume while the switch is engaged.
No I/O beyond reading the windows.
"""

from datetime import UTC, datetime
from typing import Literal

from control.errors import Conflict
from control.routes.emergencies import Emergency, emergency
from control.store import Store
from control.windows.check import active_freeze, guard
from control.windows.schedule import Freeze
from gateway.contract.snapshot import RouteState

Move = Literal["start", "advance", "promote", "resume"]


def moment(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


async def frozen(store: Store, route: str, now: float) -> Freeze | None:
    """The freeze holding `route` at `now` (a freeze window, or outside its release windows)."""
    return await active_freeze(store.redis, route, moment(now))


def waiting(freeze: Freeze) -> str:
    """The rollout's status reason while a ready step waits for the window to end."""
    until = f" until {freeze.until.isoformat()}" if freeze.until else ""
    return (
        f"waiting for window {freeze.window!r}{until} ({freeze.reason}): the step is ready to "
        "advance and moves on after the window; its guards keep watching (a regression still "
        "rolls back)"
    )


async def allow(
    store: Store,
    route: str,
    move: Move,
    *,
    emergency_: bool,
    actor: str,
    reason: str,
    now: float,
    kind: str = "rollout",
) -> Emergency | None:
    """Raise `Frozen` (409 naming the window) when `route` is frozen and this is no emergency.
    For an emergency move: the audit evidence and needs-review item to write with its change
    (also outside a freeze: every `emergency: true` change is reviewed); else None. `kind`:
    the audit action's prefix ("rollout", or "group_rollout" for a group rollout's member)."""
    at = moment(now)
    overrode = await guard(
        store.redis, route, action=f"{kind.replace('_', ' ')} {move}", emergency=emergency_, at=at
    )
    if not emergency_:
        return None
    return emergency(route, f"{kind}.{move}", actor, reason, overrode, at)


def killed(state: RouteState) -> str | None:
    """Why a rollout may not run on this route now (its kill switch is engaged), or None."""
    if state.kill_switch is None:
        return None
    return (
        f"kill switch engaged: every call of {state.name!r} gets {state.kill_switch}, so the "
        "canary is not served and cannot be judged; lift it (unkill), then resume"
    )


def refuse_killed(state: RouteState, move: Move) -> None:
    why = killed(state)
    if why is not None:
        raise Conflict(f"route: rollout {move} refused: {why}", field="route", code="killed")

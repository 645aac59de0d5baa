"""Freeze windows as the rollout controller sees them: may a rollout start, advance or promote now?

The freeze-window feature (`PUT /admin/freeze`) replaces `freeze_refusal` with its real check;
until then nothing is frozen. Rollbacks never ask: they are always allowed.
"""

from typing import Literal

from control.store import Store

Move = Literal["start", "advance", "promote"]


async def freeze_refusal(store: Store, route: str, move: Move, now: float) -> str | None:
    """Why `move` of `route`'s rollout is refused by a freeze window now, or None.

    Called before starting a rollout, before each step forward and before promoting (by the
    controller and by the operator verbs). Freeze windows are not stored yet: nothing is frozen.
    """
    del store, route, move, now
    return None

"""The one question the rest of the control plane asks: is this route frozen now?

Route changes (promote, a flip that raises a canary) and the rollout controller (before starting,
advancing or promoting) call `active_freeze` or `guard`. Rollbacks never ask.
"""

from datetime import datetime

import redis.asyncio as aioredis

from control.errors import Conflict
from control.windows import store
from control.windows.schedule import Freeze, freeze_at


class Frozen(Conflict):
    """A change refused by a freeze (409); `freeze` names the window."""

    code = "frozen"

    def __init__(self, route: str, action: str, freeze: Freeze) -> None:
        until = f" until {freeze.until.isoformat()}" if freeze.until else ""
        scope = "every route" if freeze.route is None else f"route {freeze.route!r}"
        super().__init__(
            f"{action} refused: {scope} is frozen by window {freeze.window!r}{until} "
            f"({freeze.reason}); pass emergency: true with a reason to override",
            field="emergency",
        )
        self.freeze = freeze


async def active_freeze(redis: aioredis.Redis, route: str, at: datetime) -> Freeze | None:
    """The freeze holding `route` at `at`, or None. `at` is the caller's clock (testable)."""
    return freeze_at(await store.load(redis), route, at)


async def guard(
    redis: aioredis.Redis, route: str, *, action: str, emergency: bool, at: datetime
) -> Freeze | None:
    """Raise `Frozen` when `route` is frozen and this is no emergency; else the freeze that an
    emergency change overrides (to record in its audit evidence), or None."""
    freeze = await active_freeze(redis, route, at)
    if freeze is not None and not emergency:
        raise Frozen(route, action, freeze)
    return freeze

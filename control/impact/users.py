"""The affected users of a release (opt-in per route): sticky keys with the last time served.

Personal data: recorded only for routes with `record_users` on, by the gateways' telemetry flush
(never on the request path), trimmed to the route's retention, deleted when switched off.
"""

from datetime import UTC, datetime

import msgspec
import redis.asyncio as aioredis

from control.durations import Time
from control.errors import Conflict, NotFound
from control.routes.views import RouteData
from control.store import text
from gateway.contract import telemetry as tk


class AffectedUser(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # the sticky key: the request's `user` or X-Turnout-Sticky-Key (digest if > 128)
    last_seen: Time  # the last flush that saw the release serve it (UTC)


async def read_users(
    redis: aioredis.Redis, data: RouteData, release: str, since_s: int, now_s: int
) -> list[AffectedUser]:
    route, retention_s = data.state.name, data.state.record_users_s
    if release not in data.releases:
        raise NotFound(f"release: {release!r} is not a release of route {route!r}", field="release")
    if retention_s <= 0:
        raise Conflict(
            f"route {route!r} does not record users (opt in with record_users; personal data)",
            code="users_not_recorded",
        )
    cutoff = max(since_s, now_s - retention_s)  # retention holds even before the next trim
    raw: list[tuple[bytes, float]] = await redis.zrangebyscore(
        tk.affected_users(route, release), cutoff, "+inf", withscores=True
    )  # type: ignore[assignment]
    return [
        AffectedUser(key=text(member), last_seen=datetime.fromtimestamp(score, tz=UTC))
        for member, score in raw
    ]

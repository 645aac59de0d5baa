"""Reading a release's impact from Redis: minute buckets and sticky-key HyperLogLogs.

All keys share the route's hash tag, so PFCOUNT over many minutes (a union) is one command.
"""

from datetime import datetime

import redis.asyncio as aioredis

from control.errors import BROKEN_RULE, BadInput, NotFound
from control.impact.compute import Impact, active_minutes, figures, minute_time, per_minute
from control.routes.views import RouteData
from control.stats.compute import merge
from control.stats.read import read_buckets
from gateway.contract import telemetry as tk


async def _union(redis: aioredis.Redis, route: str, release: str, minutes: list[int]) -> int:
    if not minutes:
        return 0
    keys = [tk.sticky_keys_minute(route, release, m) for m in minutes]
    return int(await redis.pfcount(*keys))


async def read_impact(
    redis: aioredis.Redis, data: RouteData, release: str, since_s: int, now_s: int
) -> Impact:
    route, stable = data.state.name, data.state.stable
    if release not in data.releases:
        raise NotFound(f"release: {release!r} is not a release of route {route!r}", field="release")
    if now_s - since_s > tk.MINUTE_TTL_S:
        raise BadInput(
            "since: impact is kept per minute for 2 days; ask for less",
            field="since",
            code=BROKEN_RULE,
        )
    minutes = list(range(since_s // tk.MINUTE_S, now_s // tk.MINUTE_S + 1))
    buckets = await read_buckets(redis, [tk.minute_bucket(route, m) for m in minutes])
    active = active_minutes(release, minutes, buckets)
    async with redis.pipeline(transaction=False) as pipe:
        for minute in active:
            # execute_command: redis-py's cluster pipeline refuses `pfcount` by name
            pipe.execute_command("PFCOUNT", tk.sticky_keys_minute(route, release, minute))
        counts = await pipe.execute()
    users = {m: int(c) for m, c in zip(active, counts, strict=True)}
    chosen = [b for m, b in zip(minutes, buckets, strict=True) if m in users]
    totals = merge(chosen)
    release_figures = figures(
        totals.get(release), data.releases[release], await _union(redis, route, release, active)
    )
    stable_figures = None
    if release != stable:
        stable_figures = figures(
            totals.get(stable),
            data.releases.get(stable),
            await _union(redis, route, stable, active),
        )
    return Impact(
        route=route,
        release=release,
        stable=stable,
        since=datetime.fromtimestamp(since_s, tz=minute_time(0).tzinfo),
        until=datetime.fromtimestamp(now_s, tz=minute_time(0).tzinfo),
        first_call=minute_time(active[0]) if active else None,
        last_call=minute_time(active[-1]) if active else None,
        minutes=len(active),
        release_figures=release_figures,
        stable_figures=stable_figures,
        per_minute=per_minute(release, minutes, buckets, users),
        users_recorded=data.state.record_users_s > 0,
    )

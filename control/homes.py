"""Where a route's keys live (`keys.route_home`): under its own tag, or in its group's slot once
it joined a group. `keys.ROUTE_HOMES` is the one record of it; every reader and writer of route
keys asks here first."""

import redis.asyncio as aioredis

from control.errors import Conflict
from gateway.contract import keys


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def group_of(redis: aioredis.Redis, route: str) -> str | None:
    """The group whose slot holds the route's keys, or None: its own `{route:NAME}` slot."""
    raw = await redis.hget(keys.ROUTE_HOMES, route)
    return None if raw is None else _text(raw)


def busy(route: str, marker: str) -> Conflict:
    """A write to a route whose slot is marked (`keys.route_moved`) while, or after, it moves."""
    return Conflict(
        f"route {route!r} is busy moving into its group's slot ({marker}); try again",
        field="route",
        code="busy",
    )


async def all_groups(redis: aioredis.Redis) -> dict[str, str]:
    """Route -> group for every route living in a group's slot."""
    raw = await redis.hgetall(keys.ROUTE_HOMES)
    return {_text(k): _text(v) for k, v in raw.items()}

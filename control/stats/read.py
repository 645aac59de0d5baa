"""Reading a route's telemetry buckets for a window from Redis (minute or hour resolution)."""

import asyncio

import redis.asyncio as aioredis

from gateway.contract import telemetry as tk

MINUTE_RESOLUTION_MAX_S = 24 * 3600  # longer windows read hour buckets


def _periods(window_s: int, now_s: int) -> tuple[bool, range]:
    """Minute (True) or hour periods covering (now - window, now]."""
    if window_s <= MINUTE_RESOLUTION_MAX_S:
        return True, range((now_s - window_s) // tk.MINUTE_S + 1, now_s // tk.MINUTE_S + 1)
    return False, range((now_s - window_s) // tk.HOUR_S + 1, now_s // tk.HOUR_S + 1)


def bucket_keys(route: str, window_s: int, now_s: int) -> list[str]:
    """Keys of the buckets covering (now - window, now], current partial bucket included."""
    minutes, periods = _periods(window_s, now_s)
    name = tk.minute_bucket if minutes else tk.hour_bucket
    return [name(route, period) for period in periods]


async def read_buckets(redis: aioredis.Redis, keys: list[str]) -> list[dict[str, int]]:
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        raw = await pipe.execute()
    return [
        {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in bucket.items()}
        for bucket in raw
    ]


async def read_distinct_keys(
    redis: aioredis.Redis, route: str, releases: list[str], window_s: int, now_s: int
) -> dict[str, int]:
    """Distinct sticky keys per release over the window: PFCOUNT of its HyperLogLogs (one slot)."""
    minutes, periods = _periods(window_s, now_s)
    name = tk.sticky_keys_minute if minutes else tk.sticky_keys_hour
    # not pipelined: Redis Cluster clients refuse PFCOUNT in a pipeline
    counts = await asyncio.gather(
        *(redis.pfcount(*(name(route, release, p) for p in periods)) for release in releases)
    )
    return {release: int(count) for release, count in zip(releases, counts, strict=True)}

"""Reading a route's telemetry buckets for a window from Redis (minute or hour resolution)."""

import redis.asyncio as aioredis

from gateway.contract import telemetry as tk

MINUTE_RESOLUTION_MAX_S = 24 * 3600  # longer windows read hour buckets


def bucket_keys(route: str, window_s: int, now_s: int) -> list[str]:
    """Keys of the buckets covering (now - window, now], current partial bucket included."""
    if window_s <= MINUTE_RESOLUTION_MAX_S:
        last = now_s // tk.MINUTE_S
        first = (now_s - window_s) // tk.MINUTE_S + 1
        return [tk.minute_bucket(route, m) for m in range(first, last + 1)]
    last = now_s // tk.HOUR_S
    first = (now_s - window_s) // tk.HOUR_S + 1
    return [tk.hour_bucket(route, h) for h in range(first, last + 1)]


async def read_buckets(redis: aioredis.Redis, keys: list[str]) -> list[dict[str, int]]:
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        raw = await pipe.execute()
    return [
        {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in bucket.items()}
        for bucket in raw
    ]

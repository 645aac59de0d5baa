"""The two arms of a rollout (canary and the concurrent stable release) since a moment.

Telemetry lives in per-route minute buckets that only ever grow, so the counts since a moment are
the sum of the buckets from that moment's minute on, minus the counters that minute held at the
moment (the `Snapshot`). Reads Redis; the arithmetic is `arms`, which is pure.
"""

import asyncio

import redis.asyncio as aioredis

from control.rollout.model import Snapshot
from control.rollout.statistics import Counts, Moments
from control.stats.compute import OK, Totals, merge
from control.stats.read import read_buckets
from gateway.contract import telemetry as tk

NOT_ERRORS = frozenset({OK, "client"})  # a caller's own mistake is not the release's error


class Arm:
    """One release's counts since a snapshot, in the shapes the guards take."""

    __slots__ = ("errors", "keyed", "latency", "ratings", "requests", "scores")

    def __init__(self, totals: Totals) -> None:
        self.requests = totals.get(tk.REQUESTS)
        # placed by a sticky key: clustered by user, so the split check counts their keys
        self.keyed = min(totals.get(tk.KEYED), self.requests)
        errors = sum(v for k, v in totals.outcomes.items() if k not in NOT_ERRORS)
        self.errors = Counts(n=max(self.requests, errors), events=errors)
        up, down = totals.get(tk.THUMBS_UP), totals.get(tk.THUMBS_DOWN)
        self.ratings = Counts(n=up + down, events=down)
        self.scores = Moments(
            n=totals.get(tk.SCORES),
            total=totals.get(tk.SCORE_MICROS) / 1e6,
            total_sq=totals.get(tk.SCORE_SQ_MICROS) / 1e6,
        )
        self.latency = list(totals.latency)


def _minus(now: Totals, then: Totals) -> Totals:
    out = Totals()
    for name, value in now.counters.items():
        out.counters[name] = max(value - then.counters.get(name, 0), 0)
    for name, value in now.outcomes.items():
        out.outcomes[name] = max(value - then.outcomes.get(name, 0), 0)
    out.latency = [max(a - b, 0) for a, b in zip(now.latency, then.latency, strict=True)]
    out.ttft = [max(a - b, 0) for a, b in zip(now.ttft, then.ttft, strict=True)]
    return out


def arms(
    buckets: list[dict[str, int]], snapshot: Snapshot, canary: str, stable: str
) -> tuple[Arm, Arm]:
    """(canary, baseline) from the buckets of `snapshot.minute` onwards, minus the snapshot."""
    canary_totals, stable_totals = arm_totals(buckets, snapshot, canary, stable)
    return Arm(canary_totals), Arm(stable_totals)


def arm_totals(
    buckets: list[dict[str, int]], snapshot: Snapshot, canary: str, stable: str
) -> tuple[Totals, Totals]:
    """`arms` before they are shaped for the guards (to pool several routes' counts)."""
    now = merge(buckets)
    then = merge([snapshot.fields])
    return (
        _minus(now.get(canary) or Totals(), then.get(canary) or Totals()),
        _minus(now.get(stable) or Totals(), then.get(stable) or Totals()),
    )


def pooled(parts: list[Totals]) -> Arm:
    """One arm of several routes' counts summed (a group rollout's combined guards)."""
    out = Totals()
    for part in parts:
        for name, value in part.counters.items():
            out.counters[name] = out.counters.get(name, 0) + value
        for name, value in part.outcomes.items():
            out.outcomes[name] = out.outcomes.get(name, 0) + value
        out.latency = [a + b for a, b in zip(out.latency, part.latency, strict=True)]
        out.ttft = [a + b for a, b in zip(out.ttft, part.ttft, strict=True)]
    return Arm(out)


def minute_of(at: float) -> int:
    return int(at) // tk.MINUTE_S


async def read_since(
    redis: aioredis.Redis, route: str, from_minute: int, now: float
) -> list[dict[str, int]]:
    keys = [tk.minute_bucket(route, m) for m in range(from_minute, minute_of(now) + 1)]
    return await read_buckets(redis, keys)


async def take_snapshot(
    redis: aioredis.Redis, route: str, releases: tuple[str, ...], now: float
) -> Snapshot:
    minute = minute_of(now)
    (bucket,) = await read_buckets(redis, [tk.minute_bucket(route, minute)])
    prefixes = tuple(f"{release}|" for release in releases)
    return Snapshot(
        at=now, minute=minute, fields={k: v for k, v in bucket.items() if k.startswith(prefixes)}
    )


async def distinct_keys(
    redis: aioredis.Redis, route: str, releases: tuple[str, ...], first: int, last: int
) -> dict[str, int]:
    """Distinct sticky keys per release over the minutes first..last (HyperLogLogs; the last
    may be the current minute, which the gateways' flushes are still adding to)."""
    if last < first:
        return dict.fromkeys(releases, 0)
    # One PFCOUNT per release (its keys share the route's slot), not pipelined: Redis Cluster
    # clients refuse PFCOUNT in a pipeline.
    counts = await asyncio.gather(
        *(
            redis.pfcount(
                *(tk.sticky_keys_minute(route, release, m) for m in range(first, last + 1))
            )
            for release in releases
        )
    )
    return {release: int(c) for release, c in zip(releases, counts, strict=True)}

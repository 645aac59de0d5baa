"""Sends the growth of in-process counters to Redis in batches, off the request path.

Each flush cuts one batch per route (counter deltas since the last cut) and applies it with a Lua
script guarded by a batch id, so a batch retried after a lost reply is counted once. While Redis
is down the batch waits and new calls keep adding to the in-process counters: memory stays
bounded. Call ids (for feedback attribution) wait in a bounded queue; overflow is counted.
"""

import asyncio
import bisect
import itertools
import logging
import os
import secrets
import time
from importlib import resources

import msgspec
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from gateway.contract import telemetry as tk
from gateway.contract.telemetry import CallRecord
from gateway.telemetry.recorder import OUTCOMES, Recorder, ReleaseStats

log = logging.getLogger("turnout.telemetry")

GUARD_TTL_S = 24 * 3600
_encoder = msgspec.json.Encoder()
CALL_WRITE_CHUNK = 500


def load_lua(name: str) -> str:
    return resources.files("gateway.telemetry").joinpath("lua", name).read_text()


# Read at import, never on the event loop (a file read there blocks every call in flight).
APPLY_BATCH_LUA = load_lua("apply_batch.lua")


class Baseline:
    """What of one ReleaseStats has already been cut into batches."""

    __slots__ = ("keyed", "latency", "outcomes", "tokens_in", "tokens_out", "ttft")

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.latency: list[int] = []
        self.ttft: list[int] = []
        self.tokens_in = 0
        self.tokens_out = 0
        self.keyed = 0


def cut_fields(stats: ReleaseStats, base: Baseline) -> dict[str, int]:
    """Counter growth since `base` as bucket-hash fields, and move `base` forward."""
    release = stats.release
    fields: dict[str, int] = {}
    requests = 0
    for outcome, count in stats.outcomes.items():
        delta = count - base.outcomes[outcome]
        if delta:
            fields[tk.field(release, tk.OUTCOME, outcome)] = delta
            requests += delta
            base.outcomes[outcome] = count
    if requests:
        fields[tk.field(release, tk.REQUESTS)] = requests
    for name, counts, seen in (
        (tk.LATENCY, stats.latency, base.latency),
        (tk.TTFT, stats.ttft, base.ttft),
    ):
        if not seen:
            seen.extend([0] * len(counts))
        for index, count in enumerate(counts):
            if count != seen[index]:
                fields[tk.field(release, name, index)] = count - seen[index]
                seen[index] = count
    for name, now, before in (
        (tk.TOKENS_IN, stats.tokens_in, base.tokens_in),
        (tk.TOKENS_OUT, stats.tokens_out, base.tokens_out),
        (tk.KEYED, stats.keyed, base.keyed),
    ):
        if now != before:
            fields[tk.field(release, name)] = now - before
    base.tokens_in, base.tokens_out = stats.tokens_in, stats.tokens_out
    base.keyed = stats.keyed
    return fields


class Batch:
    __slots__ = ("fields", "id", "keys", "minute", "route")

    def __init__(self, route: str, batch_id: str, minute: int, fields: dict[str, int]) -> None:
        self.route = route
        self.id = batch_id
        self.minute = minute
        self.fields = fields
        self.keys: dict[str, list[str]] = {}  # release -> distinct sticky keys to PFADD


class Flusher:
    def __init__(
        self,
        redis: aioredis.Redis,
        recorder: Recorder,
        interval_s: float,
        process: str,
        call_ttl_s: int = tk.DEFAULT_CALL_TTL_S,
    ) -> None:
        self.redis = redis
        self.process = process  # this process's part of call ids (see telemetry.calls)
        self.recorder = recorder
        self.interval_s = interval_s
        self.call_ttl_s = call_ttl_s
        self._apply: AsyncScript = redis.register_script(APPLY_BATCH_LUA)
        self._baselines: dict[int, tuple[ReleaseStats, Baseline]] = {}
        self._batches: list[Batch] = []  # cut but not yet confirmed by Redis
        self._calls: list[tuple[int, int, ReleaseStats]] = []  # taken from the queue, unwritten
        self._prefix = f"{os.getpid():x}-{secrets.token_hex(4)}"
        self._sequence = itertools.count(1)
        self._stopping = False
        self.failures = 0

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except (RedisError, OSError) as error:
                self.failures += 1
                if self.failures == 1:
                    log.warning("telemetry flush failed, keeping it for later: %s", error)
            except Exception:  # supervisor: keep flushing whatever went wrong once
                self.failures += 1
                log.exception("telemetry flush failed unexpectedly, keeping it for later")
            else:
                self.failures = 0

    def cut(self) -> None:
        """Turn counter growth into batches (one per route), unless earlier ones still wait."""
        if self._batches:
            return
        minute = int(time.time()) // tk.MINUTE_S
        per_route: dict[str, dict[str, int]] = {}
        retired, self.recorder.retired = self.recorder.retired, []
        per_route_keys: dict[str, dict[str, list[str]]] = {}
        dropped = self.recorder.dropped
        for stats in [*self.recorder.releases.values(), *retired]:
            _, base = self._baselines.setdefault(id(stats), (stats, Baseline()))
            fields = cut_fields(stats, base)
            if fields:
                per_route.setdefault(stats.route, {}).update(fields)
            if stats.keys:
                taken, stats.keys = stats.keys, set()
                per_route_keys.setdefault(stats.route, {})[stats.release] = list(taken)
                per_route.setdefault(stats.route, {})
            if stats.keys_dropped:
                dropped["sticky_keys"] = dropped.get("sticky_keys", 0) + stats.keys_dropped
                stats.keys_dropped = 0
        for stats in retired:
            self._baselines.pop(id(stats), None)
        for route, fields in per_route.items():
            batch_id = f"{self._prefix}-{next(self._sequence)}"
            batch = Batch(route, batch_id, minute, fields)
            batch.keys = per_route_keys.get(route, {})
            self._batches.append(batch)

    async def flush(self) -> None:
        self.cut()
        while self._batches:
            await self._send(self._batches[0])
            self._batches.pop(0)
        await self._write_calls()

    async def _send(self, batch: Batch) -> None:
        args: list[str | int] = [GUARD_TTL_S, tk.MINUTE_TTL_S, tk.HOUR_TTL_S]
        for name, delta in batch.fields.items():
            args += [name, delta]
        hour = batch.minute * tk.MINUTE_S // tk.HOUR_S
        keys = [
            tk.flush_guard(batch.route, batch.id),
            tk.minute_bucket(batch.route, batch.minute),
            tk.hour_bucket(batch.route, hour),
        ]
        if batch.fields:
            await self._apply(keys=keys, args=args)
        if batch.keys:  # PFADD is idempotent: a retry after a lost reply adds nothing twice
            async with self.redis.pipeline(transaction=False) as pipe:
                for release, members in batch.keys.items():
                    for key, ttl_s in (
                        (
                            tk.sticky_keys_minute(batch.route, release, batch.minute),
                            tk.MINUTE_TTL_S,
                        ),
                        (tk.sticky_keys_hour(batch.route, release, hour), tk.HOUR_TTL_S),
                    ):
                        pipe.pfadd(key, *members)
                        pipe.expire(key, ttl_s)
                await pipe.execute()

    async def _write_calls(self) -> None:
        """Call records, a few hundred fields per HSET, yielding to calls between chunks."""
        queue = self.recorder.calls
        records: dict[int, bytes] = {}  # encoded CallRecord per ReleaseStats (by id)
        while self._calls or queue:
            if not self._calls:
                take = min(len(queue), CALL_WRITE_CHUNK)
                self._calls = [queue.popleft() for _ in range(take)]
            by_minute: dict[int, dict[str, bytes]] = {}
            for minute, number, stats in self._calls:
                record = records.get(id(stats))
                if record is None:
                    record = records[id(stats)] = _encoder.encode(
                        CallRecord(route=stats.route, release=stats.release)
                    )
                by_minute.setdefault(minute, {})[f"{number:x}"] = record
            async with self.redis.pipeline(transaction=False) as pipe:
                for minute, mapping in by_minute.items():
                    key = tk.call_bucket(self.process, minute)
                    pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                    pipe.expire(key, self.call_ttl_s)
                await pipe.execute()
            self._calls = []
            await asyncio.sleep(0)

    def pending_call(self, minute: int, number: int) -> CallRecord | None:
        """A call served by this process whose record is not in Redis yet.

        Both queues hold calls in issue order (numbers increase), so this is a binary search.
        """
        for queue in (self._calls, self.recorder.calls):
            index = bisect.bisect_left(queue, number, key=lambda entry: entry[1])
            if index < len(queue):
                queued_minute, queued_number, stats = queue[index]
                if queued_number == number and queued_minute == minute:
                    return CallRecord(route=stats.route, release=stats.release)
        return None

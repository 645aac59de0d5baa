"""Feedback attribution: find the release that served a call (still queued in this process, or
in Redis), apply the feedback to its counters in one Lua script, and count it in this process's
aggregates. No HTTP here: the endpoint decodes the request and renders the answer."""

import asyncio
import time
from typing import Literal, NamedTuple

import msgspec

from gateway.contract import telemetry as tk
from gateway.contract.telemetry import CallRecord
from gateway.telemetry.calls import CallId, parse_call_id
from gateway.telemetry.ledger import record_in
from gateway.telemetry.recorder import Recorder
from gateway.telemetry.store import TelemetryStore

_call_decoder = msgspec.json.Decoder(CallRecord)
_table_decoder = msgspec.json.Decoder(list[tuple[str, str]])
_RECHECK_S = 0.1
_REPLACED = 2  # what the feedback script answers when the call already had feedback


class CallNotFound(LookupError):
    """No call of that id is known (malformed, expired, or never served)."""


class Attribution(NamedTuple):
    call: CallRecord
    replaced: bool  # the call had feedback already: this one replaces it


async def attribute(
    telemetry: TelemetryStore,
    recorder: Recorder,
    call_id: str,
    value: Literal["up", "down"] | None,
    score: float | None,
    comment: str | None,
) -> Attribution:
    """Raises CallNotFound, or RedisError/OSError when Redis is unreachable."""
    parsed = parse_call_id(call_id)
    call = None if parsed is None else await _find_call(telemetry, parsed)
    if parsed is None or call is None:
        raise CallNotFound(call_id)
    minute = parsed.minute
    hour = minute * tk.MINUTE_S // tk.HOUR_S
    score_micros = round(score * 1_000_000) if score is not None else 0
    # the sum of squares gives the stats their score variance (the rollout's score guard)
    score_sq_micros = round(score * score * 1_000_000) if score is not None else 0
    result = await telemetry.feedback_script(
        keys=[
            tk.feedback_record(call.route, call_id),
            tk.minute_bucket(call.route, minute),
            tk.hour_bucket(call.route, hour),
        ],
        args=[
            call.release,
            int(value == "up"),
            int(value == "down"),
            int(score is not None),
            score_micros,
            comment or "",
            telemetry.flusher.call_ttl_s,
            tk.MINUTE_TTL_S,
            tk.HOUR_TTL_S,
            score_sq_micros,
        ],
    )
    replaced = int(result) == _REPLACED
    stats = recorder.releases.get((call.route, call.release))
    if stats is not None and not replaced:  # a replacement is not a new feedback
        for kind in ("up", "down"):
            stats.feedback[kind] += value == kind
        stats.feedback["score"] += score is not None
    return Attribution(call, replaced)


async def _find_call(telemetry: TelemetryStore, call_id: CallId) -> CallRecord | None:
    """The call's record: queued in this process, or in Redis. A recent call of another replica
    may still wait in that replica's queue, so look again until its flush must have happened."""
    flusher = telemetry.flusher
    if call_id.process == flusher.process:
        queued = flusher.pending_call(call_id.minute, call_id.number)
        if queued is not None:
            return queued
    key = tk.call_bucket(call_id.process, call_id.minute)
    number = call_id.number
    fields = [tk.call_block_field(tk.block_of(number)), tk.CALL_TABLE, f"{number:x}"]
    recent = call_id.process != flusher.process and time.time() // 60 - call_id.minute <= 1
    deadline = time.monotonic() + (2 * flusher.interval_s + 0.5 if recent else 0.0)
    while True:
        block, table, legacy = await telemetry.redis.hmget(key, fields)
        if isinstance(block, bytes) and table is not None:
            record = record_in(block, number, _table_decoder.decode(table))
            if record is not None:
                return record
        # written by a gateway of the layout before blocks, which wrote no table. A bucket with
        # a table is never read this way: a legacy name can be a block's (call 0xb0 is "b0")
        if table is None and legacy is not None:
            return _call_decoder.decode(legacy)
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(_RECHECK_S)

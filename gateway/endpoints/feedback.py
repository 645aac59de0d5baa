"""`POST /v1/feedback`: thumbs or a score for a call, attributed to the release that served it."""

import asyncio
import time
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from redis.exceptions import RedisError

from gateway.contract import telemetry as tk
from gateway.contract.telemetry import CallRecord
from gateway.errors import GatewayError, bad_request
from gateway.keys import CONTEXT
from gateway.telemetry.calls import CallId, parse_call_id
from gateway.telemetry.store import TelemetryStore

_call_decoder = msgspec.json.Decoder(CallRecord)
_RECHECK_S = 0.1


class FeedbackRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    value: Literal["up", "down"] | None = None
    score: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None
    comment: Annotated[str, msgspec.Meta(max_length=4000)] | None = None

    def __post_init__(self) -> None:
        if self.value is None and self.score is None:
            raise ValueError("give 'value' (\"up\" or \"down\") or 'score' (0 to 1)")


_request_decoder = msgspec.json.Decoder(FeedbackRequest)


def decode_feedback(raw: bytes) -> FeedbackRequest:
    try:
        return _request_decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise bad_request(f"invalid feedback: {error}", code="invalid_feedback") from None
    except msgspec.DecodeError as error:
        raise bad_request(f"request body is not valid JSON: {error}", code="invalid_json") from None


async def post_feedback(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    telemetry = context.telemetry
    feedback = decode_feedback(await request.read())
    if telemetry is None:
        raise GatewayError(503, "feedback needs Redis; none is configured", code="no_redis")
    try:
        result, call = await _store(telemetry, feedback)
    except (RedisError, OSError):
        raise GatewayError(
            503,
            "the feedback store (Redis) is unreachable; retry later",
            type_="server_error",
            code="feedback_store_unavailable",
        ) from None
    stats = context.recorder.releases.get((call.route, call.release))
    if stats is not None and result != 2:  # a replacement is not a new feedback
        for kind in ("up", "down"):
            stats.feedback[kind] += feedback.value == kind
        stats.feedback["score"] += feedback.score is not None
    body = {
        "call_id": feedback.call_id,
        "route": call.route,
        "release": call.release,
        "replaced": result == 2,
    }
    return web.json_response(body, status=202)


async def _find_call(telemetry: TelemetryStore, call_id: CallId) -> CallRecord | None:
    """The call's record: queued in this process, or in Redis. A recent call of another replica
    may still wait in that replica's queue, so look again until its flush must have happened."""
    flusher = telemetry.flusher
    if call_id.process == flusher.process:
        queued = flusher.pending_call(call_id.minute, call_id.number)
        if queued is not None:
            return queued
    key = tk.call_bucket(call_id.process, call_id.minute)
    field = f"{call_id.number:x}"
    recent = call_id.process != flusher.process and time.time() // 60 - call_id.minute <= 1
    deadline = time.monotonic() + (2 * flusher.interval_s + 0.5 if recent else 0.0)
    while True:
        raw = await telemetry.redis.hget(key, field)
        if raw is not None:
            return _call_decoder.decode(raw)
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(_RECHECK_S)


async def _store(telemetry: TelemetryStore, feedback: FeedbackRequest) -> tuple[int, CallRecord]:
    parsed = parse_call_id(feedback.call_id)
    call = None if parsed is None else await _find_call(telemetry, parsed)
    if parsed is None or call is None:
        raise GatewayError(
            404,
            f"unknown or expired call id {feedback.call_id!r}",
            code="call_not_found",
            param="call_id",
        )
    minute = parsed.minute
    hour = minute * tk.MINUTE_S // tk.HOUR_S
    score = feedback.score
    score_micros = round(score * 1_000_000) if score is not None else 0
    score_sq_micros = round(score * score * 1_000_000) if score is not None else 0
    result = await telemetry.feedback_script(
        keys=[
            tk.feedback_record(call.route, feedback.call_id),
            tk.minute_bucket(call.route, minute),
            tk.hour_bucket(call.route, hour),
        ],
        args=[
            call.release,
            int(feedback.value == "up"),
            int(feedback.value == "down"),
            int(feedback.score is not None),
            score_micros,
            feedback.comment or "",
            telemetry.flusher.call_ttl_s,
            tk.MINUTE_TTL_S,
            tk.HOUR_TTL_S,
            score_sq_micros,
        ],
    )
    return int(result), call

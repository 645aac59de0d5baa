"""`POST /v1/feedback`: thumbs or a score for a call, attributed to the release that served it
(the attribution itself is `gateway.telemetry.feedback`; this decodes and answers)."""

from typing import Annotated, Literal

import msgspec
from aiohttp import web
from redis.exceptions import RedisError

from gateway.errors import GatewayError, bad_request
from gateway.keys import CONTEXT
from gateway.telemetry.feedback import CallNotFound, attribute


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
        call, replaced = await attribute(
            telemetry,
            context.recorder,
            feedback.call_id,
            feedback.value,
            feedback.score,
            feedback.comment,
        )
    except CallNotFound:
        raise GatewayError(
            404,
            f"unknown or expired call id {feedback.call_id!r}",
            code="call_not_found",
            param="call_id",
        ) from None
    except (RedisError, OSError):
        raise GatewayError(
            503,
            "the feedback store (Redis) is unreachable; retry later",
            type_="server_error",
            code="feedback_store_unavailable",
        ) from None
    body = {
        "call_id": feedback.call_id,
        "route": call.route,
        "release": call.release,
        "replaced": replaced,
    }
    return web.json_response(body, status=202)

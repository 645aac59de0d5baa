"""Reading what the caller sent: client key, body size and JSON shape. Raises GatewayError."""

import hmac
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import GatewayError, bad_request
from gateway.settings import ClientKey

# orjson encodes at most 254 levels of nesting: a deeper body could never be forwarded.
MAX_JSON_DEPTH = 254


def authenticate(request: web.Request, keys: dict[str, ClientKey]) -> ClientKey | None:
    """The caller's key when keys are configured; None when the gateway is open."""
    if not keys:
        return None
    header = request.headers.get("Authorization", "")
    token = header[7:] if header[:7].lower() == "bearer " else ""
    for known, client in keys.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            return client
    raise GatewayError(
        401,
        "Incorrect or missing API key: send 'Authorization: Bearer <key>'",
        type_="invalid_request_error",
        code="invalid_api_key",
    )


async def read_json_object(request: web.Request, limit_bytes: int) -> dict[str, Any]:
    length = request.content_length
    if length is not None and length > limit_bytes:
        raise too_large(limit_bytes)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(limit_bytes) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if str(error).startswith("depth limit exceeded"):
            raise too_deep() from None
        raise bad_request(f"request body is not valid JSON: {error}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object", code="invalid_json")
    return body


def too_deep() -> GatewayError:
    return bad_request(
        f"request body nests JSON deeper than {MAX_JSON_DEPTH} levels", code="json_too_deep"
    )


def too_large(limit_bytes: int) -> GatewayError:
    return GatewayError(
        413,
        f"request body is larger than the limit of {limit_bytes} bytes",
        code="request_too_large",
    )

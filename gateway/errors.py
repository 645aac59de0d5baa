"""The data plane's one error type, rendered as an OpenAI-shaped JSON body in one place."""

import orjson
from aiohttp import web


class GatewayError(Exception):
    """An error answered to the caller with an OpenAI-style body: never a traceback."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.route: str | None = None  # set once the call's route is known, for the tag header

    def body(self) -> bytes:
        return orjson.dumps(
            {
                "error": {
                    "message": self.message,
                    "type": self.type,
                    "param": self.param,
                    "code": self.code,
                }
            }
        )

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=self.status,
            body=self.body(),
            content_type="application/json",
            headers=headers,
        )


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def upstream_unreachable(message: str) -> GatewayError:
    return GatewayError(502, message, type_="upstream_error", code="upstream_connect_failed")


def upstream_timeout(message: str) -> GatewayError:
    return GatewayError(504, message, type_="upstream_error", code="upstream_timeout")


def upstream_too_large(limit_bytes: int) -> GatewayError:
    return GatewayError(
        502,
        f"upstream answer is larger than the gateway's limit of {limit_bytes} bytes "
        "(TURNOUT_UPSTREAM_BODY_LIMIT_BYTES)",
        type_="upstream_error",
        code="upstream_body_too_large",
    )


def upstream_bad_response(detail: str) -> GatewayError:
    return GatewayError(
        502,
        f"upstream sent a malformed HTTP response: {detail}",
        type_="upstream_error",
        code="upstream_bad_response",
    )


# Upstream answers the gateway refuses (counted per code, the connection closed).
UPSTREAM_REFUSALS = frozenset({"upstream_body_too_large", "upstream_bad_response"})

"""The admin API's error layer: every failure leaves as `{"error": {message, field, code}}`.

Outermost middleware. Turns control errors, msgspec validation errors (their JSON path becomes
`field`) and aiohttp's own HTTP errors into the same shape; Redis unreachable, timing out,
loading or read-only is a 503 naming Redis; a surprise becomes a logged 500, never a traceback.
"""

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web
from redis.exceptions import ClusterDownError, ReadOnlyError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from control.errors import ControlError, ErrorBody, ErrorDetail

log = logging.getLogger("turnout.control")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_encoder = msgspec.json.Encoder()


def render(
    status: int,
    message: str,
    field: str | None,
    code: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = ErrorBody(ErrorDetail(message=message, field=field, code=code))
    return web.Response(
        status=status, body=_encoder.encode(body), content_type="application/json", headers=headers
    )


@web.middleware
async def error_layer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ControlError as error:
        return render(error.status, error.message, error.field, error.code)
    except (
        RedisConnectionError,
        RedisTimeoutError,
        ReadOnlyError,
        ClusterDownError,
        TryAgainError,
    ) as error:
        # BusyLoadingError (Redis loading its data) is a ConnectionError too; a cluster that is
        # down or resharding the slot (TRYAGAIN) is as unavailable.
        log.warning("Redis unavailable serving %s %s: %s", request.method, request.path, error)
        message = (
            f"Redis is unavailable ({type(error).__name__}: {error}); retry when it is back "
            "(a change in flight may or may not have landed: read it back before retrying)"
        )
        return render(503, message, None, "redis_unavailable")
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        code = http_error.reason.lower().replace(" ", "_")
        # a 405 says which methods the path has (RFC 9110), as aiohttp's own answer does
        kept = {"Allow": http_error.headers["Allow"]} if "Allow" in http_error.headers else None
        return render(http_error.status, http_error.reason, None, code, kept)
    except Exception:  # the one place a surprise becomes a clean 500
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return render(500, "internal control-plane error", None, "internal_error")

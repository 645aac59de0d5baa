"""Forwarding one resolved call upstream and relaying the answer (buffered or SSE).

Maps upstream failures to OpenAI-shaped 502/504 errors and tags every response. A caller who
goes away ends the exchange at once, so the upstream connection is closed, not held.
"""

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from gateway.errors import (
    GatewayError,
    upstream_bad_response,
    upstream_timeout,
    upstream_too_large,
    upstream_unreachable,
)
from gateway.intake import too_deep
from gateway.snapshot import ServedRelease
from gateway.telemetry import recorder as outcomes
from gateway.telemetry.usage import StreamTap
from gateway.upstream.client import UpstreamClient, UpstreamTarget
from gateway.upstream.exchange import (
    Exchange,
    ProtocolError,
    ResponseHead,
    UpstreamBodyTooLarge,
)

# Never passed between caller and upstream in either direction.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Caller headers the gateway sets itself or must not pass on.
_NOT_FORWARDED = HOP_BY_HOP | {
    "host",
    "authorization",
    "content-length",
    "content-type",
    "accept-encoding",
    "cookie",
    "expect",
    # the provider key belongs to the gateway's account: the caller's account headers would not
    "openai-organization",
    "openai-project",
}
# Upstream headers the gateway sets itself.
_NOT_RELAYED = HOP_BY_HOP | {"content-length", "date", "server", "content-encoding"}


def outcome_for_status(status: int) -> str:
    if status < 400:
        return outcomes.OK
    return outcomes.UPSTREAM_4XX if status < 500 else outcomes.UPSTREAM_5XX


def forwarded_headers(request: web.Request) -> bytes:
    """End-to-end caller headers, as raw lines for the upstream request."""
    connection = request.headers.get("Connection")
    listed = {t.strip().lower() for t in connection.split(",")} if connection else set()
    lines = []
    for name, value in request.raw_headers:
        lowered = name.lower().decode("latin-1")
        if lowered in _NOT_FORWARDED or lowered.startswith("x-turnout-") or lowered in listed:
            continue
        lines.append(b"%s: %s\r\n" % (name, value))
    return b"".join(lines)


def response_headers(head: ResponseHead, tags: dict[str, str]) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in head.headers:
        if name not in _NOT_RELAYED and not name.startswith("x-turnout-"):
            headers.add(name, value)
    headers.update(tags)
    return headers


async def send(
    client: UpstreamClient,
    release: ServedRelease,
    target: UpstreamTarget | None,
    payload: dict[str, Any],
    extra_headers: bytes,
    streaming: bool,
) -> tuple[Exchange, ResponseHead]:
    if target is None:
        raise GatewayError(
            502,
            release.provider_error or "no upstream",
            type_="upstream_error",
            code="provider_not_configured",
        )
    try:
        data = orjson.dumps(payload)
    except orjson.JSONEncodeError:  # loaded JSON always encodes, but for orjson's depth limit
        raise too_deep() from None
    pool = client.pool_for(target, release.max_connections)
    exchange: Exchange | None = None
    try:
        exchange = await client.send(target, pool, data, streaming, extra_headers)
        return exchange, await exchange.head()
    except asyncio.CancelledError:
        if exchange is not None:
            exchange.abandon()
        raise
    except TimeoutError:
        raise upstream_timeout(
            f"upstream {target.origin.host_header} did not answer within {target.timeout_s:g} s"
        ) from None
    except ProtocolError as error:
        raise _refused(error) from None
    except OSError as error:
        raise upstream_unreachable(
            f"could not reach upstream {target.origin.host_header}: {error.strerror or error}"
        ) from None


def _refused(error: ProtocolError) -> GatewayError:
    if isinstance(error, UpstreamBodyTooLarge):
        return upstream_too_large(error.limit_bytes)
    return upstream_bad_response(str(error))


async def relay_buffered(
    exchange: Exchange, head: ResponseHead, tags: dict[str, str]
) -> tuple[web.Response, bytes]:
    try:
        body = await exchange.body()
    except asyncio.CancelledError:
        exchange.abandon()
        raise
    except TimeoutError:
        raise upstream_timeout("upstream timed out while sending its answer") from None
    except ProtocolError as error:
        raise _refused(error) from None
    except OSError as error:
        raise upstream_unreachable(f"upstream connection failed mid-answer: {error}") from None
    response = web.Response(status=head.status, body=body, headers=response_headers(head, tags))
    return response, body


async def relay_stream(
    request: web.Request,
    exchange: Exchange,
    head: ResponseHead,
    tags: dict[str, str],
    started: float,
    tap: StreamTap,
) -> tuple[web.StreamResponse, float | None, str | None]:
    """Relay chunk by chunk as they arrive.

    Returns the response, the time to the first upstream byte, and the outcome class when the
    upstream failed mid-stream (then the caller gets an SSE error event and the stream ends).
    """
    headers = response_headers(head, tags)
    headers["Cache-Control"] = "no-cache"
    headers["X-Accel-Buffering"] = "no"  # tell proxies in front of us not to buffer either
    response = web.StreamResponse(status=head.status, headers=headers)
    first_byte: float | None = None
    cut: str | None = None
    try:
        await response.prepare(request)
        async for chunk in exchange.chunks():
            if first_byte is None:
                first_byte = time.perf_counter() - started
            relayed = tap.feed(chunk)
            if relayed:
                await response.write(relayed)
        rest = tap.rest()
        if rest:
            await response.write(rest)
    except OSError as failure:  # TimeoutError included
        if exchange.error is None:  # the caller is gone: stop reading the upstream, tell nobody
            exchange.abandon()
            return response, first_byte, outcomes.CLIENT
        if isinstance(failure, TimeoutError):
            cut = outcomes.TIMEOUT
            error = upstream_timeout("upstream stalled in the middle of the stream")
        elif isinstance(failure, ProtocolError):
            cut = outcomes.UPSTREAM_5XX
            error = upstream_bad_response(str(failure))
        else:
            cut = outcomes.CONNECT
            error = upstream_unreachable(f"upstream connection failed mid-stream: {failure}")
    except asyncio.CancelledError:
        exchange.abandon()
        raise
    try:
        if cut is not None:
            await response.write(b"data: " + error.body() + b"\n\n")
        await response.write_eof()
    except OSError:
        return response, first_byte, cut or outcomes.CLIENT
    return response, first_byte, cut

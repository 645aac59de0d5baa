"""Forwarding one resolved call upstream and relaying the answer (buffered or SSE).

Maps upstream failures to OpenAI-shaped 502/504 errors and tags every response. A caller who
goes away ends the exchange at once, so the upstream connection is closed, not held.
"""

import asyncio
import time

from gateway.callers.call import Call
from gateway.callers.heads import JSON
from gateway.dialect import Dialect, Tap
from gateway.errors import (
    GatewayError,
    upstream_bad_response,
    upstream_timeout,
    upstream_too_large,
    upstream_unreachable,
)
from gateway.routing import ServedRelease
from gateway.telemetry import recorder as outcomes
from gateway.telemetry.usage import Usage
from gateway.upstream.client import UpstreamClient, UpstreamTarget
from gateway.upstream.exchange import (
    ConnectFailed,
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
    # other kinds' key headers, and the API version the gateway sets for its provider
    "api-key",
    "x-api-key",
    "anthropic-version",
}
_NOT_FORWARDED_RAW = frozenset(name.encode() for name in _NOT_FORWARDED)
_NOTHING_LISTED: frozenset[bytes] = frozenset()
# Upstream headers the gateway sets itself.
_NOT_RELAYED = HOP_BY_HOP | {"content-length", "date", "server", "content-encoding"}
# ... and for a body the dialect rewrote (always JSON), its type as well
_NOT_RELAYED_REWRITTEN = _NOT_RELAYED | {"content-type"}


def outcome_for_status(status: int) -> str:
    if status < 400:
        return outcomes.OK
    return outcomes.UPSTREAM_4XX if status < 500 else outcomes.UPSTREAM_5XX


def forwarded_headers(call: Call) -> bytes:
    """End-to-end caller headers, as raw lines for the upstream request."""
    connection = call.connection_header
    listed = {t.strip().lower() for t in connection.split(b",")} if connection else _NOTHING_LISTED
    lines = []
    for name, value in call.headers:
        lowered = name.lower()
        if lowered in _NOT_FORWARDED_RAW or lowered.startswith(b"x-turnout-") or lowered in listed:
            continue
        lines.append(b"%s: %s\r\n" % (name, value))
    return b"".join(lines)


def response_headers(head: ResponseHead, tags: bytes, skip: frozenset[str] = _NOT_RELAYED) -> bytes:
    """The upstream's end-to-end header lines, then the call's tags (complete lines)."""
    lines = [
        f"{name}: {value}\r\n".encode()
        for name, value in head.headers
        if name not in skip and not name.startswith("x-turnout-")
    ]
    lines.append(tags)
    return b"".join(lines)


async def open_exchange(
    client: UpstreamClient, target: UpstreamTarget, data: bytes, headers: bytes, streaming: bool
) -> tuple[Exchange, ResponseHead]:
    """Send one request and wait for the answer's head. Raises OSError (ConnectFailed,
    TimeoutError, ProtocolError…) as it comes; `failure` maps it for the caller."""
    exchange: Exchange | None = None
    try:
        exchange = await client.send(target, data, streaming, headers)
        return exchange, await exchange.head()
    except asyncio.CancelledError:
        if exchange is not None:
            exchange.abandon()
        raise


def failure(error: OSError, target: UpstreamTarget) -> GatewayError:
    """An upstream failure as the OpenAI-shaped error the caller gets."""
    if isinstance(error, TimeoutError):
        return upstream_timeout(
            f"upstream {target.origin.host_header} did not answer within {target.timeout_s:g} s"
        )
    if isinstance(error, ProtocolError):
        return _refused(error)
    if isinstance(error, ConnectFailed):
        return upstream_unreachable(f"could not reach upstream: {error}")
    return upstream_unreachable(
        f"could not reach upstream {target.origin.host_header}: {error.strerror or error}"
    )


def no_target(release: ServedRelease) -> GatewayError:
    if release.provider_error is not None:
        return GatewayError(
            502, release.provider_error, type_="upstream_error", code="provider_not_configured"
        )
    return GatewayError(  # the provider works, but its kind has no such endpoint
        400,
        f"provider kind {release.dialect.kind} has no embeddings API",
        code="unsupported_by_provider",
    )


async def drain(exchange: Exchange) -> None:
    """Read an answer that will not be relayed (a retried error), so its connection can be
    reused; a failure while reading just closes it."""
    try:
        await exchange.body()
    except OSError:
        exchange.abandon()


def _refused(error: ProtocolError) -> GatewayError:
    if isinstance(error, UpstreamBodyTooLarge):
        return upstream_too_large(error.limit_bytes)
    return upstream_bad_response(str(error))


async def relay_buffered(
    call: Call, exchange: Exchange, head: ResponseHead, tags: bytes, dialect: Dialect
) -> tuple[int, Usage | None]:
    """Answers the caller with the whole upstream answer as the dialect renders it (one
    write); returns the status the caller got and the answer's usage."""
    try:
        body = await exchange.body()
    except asyncio.CancelledError:
        exchange.abandon()
        raise
    except OSError as error:
        raise body_failure(error) from None
    return answer_buffered(call, head, body, tags, dialect)


def body_failure(error: OSError) -> GatewayError:
    """A failure after the answer's head, while its body was read, as the caller's error."""
    if isinstance(error, TimeoutError):
        return upstream_timeout("upstream timed out while sending its answer")
    if isinstance(error, ProtocolError):
        return _refused(error)
    return upstream_unreachable(f"upstream connection failed mid-answer: {error}")


def answer_buffered(
    call: Call, head: ResponseHead, body: bytes, tags: bytes, dialect: Dialect
) -> tuple[int, Usage | None]:
    """Write the whole answer as the dialect renders it; the status the caller got and the
    answer's usage."""
    status, answer, usage = dialect.answer(head.status, body)
    if answer is body:
        headers = response_headers(head, tags)
    else:  # rewritten by the dialect: always JSON
        headers = JSON + response_headers(head, tags, _NOT_RELAYED_REWRITTEN)
    call.reply(status, headers, answer)
    return status, usage


# tell proxies in front of us not to buffer either
STREAM_HEADERS = b"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"


async def relay_stream(
    call: Call,
    exchange: Exchange,
    head: ResponseHead,
    tags: bytes,
    started: float,
    tap: Tap,
) -> tuple[float | None, str | None]:
    """Relay chunk by chunk as they arrive.

    Returns the time to the first upstream byte, and the outcome class when the upstream
    failed mid-stream (then the caller gets an SSE error event and the stream ends).
    """
    first_byte: float | None = None
    cut: str | None = None
    last = b""  # written with the end of the stream
    try:
        call.open_stream(head.status, response_headers(head, tags) + STREAM_HEADERS)
        async for chunk in exchange.chunks():
            if first_byte is None:
                first_byte = time.perf_counter() - started
            relayed = tap.feed(chunk)
            if exchange.finished and exchange.error is None:  # the end has come: one last write
                last += relayed
            elif relayed:
                call.send(relayed)  # no coroutine per event: awaited only while the caller lags
                if call.connection.writing_paused:
                    await call.connection.drain()
        last += tap.rest()
    except OSError as broken:  # TimeoutError included
        if isinstance(broken, ProtocolError) and exchange.error is None:
            exchange.on_error(broken)  # found by a translating tap: close the upstream too
        if exchange.error is None:  # the caller is gone: stop reading the upstream, tell nobody
            exchange.abandon()
            return first_byte, outcomes.CLIENT
        if isinstance(broken, TimeoutError):
            cut = outcomes.TIMEOUT
            error = upstream_timeout("upstream stalled in the middle of the stream")
        elif isinstance(broken, ProtocolError):
            cut = outcomes.UPSTREAM_5XX
            error = upstream_bad_response(str(broken))
        else:
            cut = outcomes.CONNECT
            error = upstream_unreachable(f"upstream connection failed mid-stream: {broken}")
    except asyncio.CancelledError:
        exchange.abandon()
        raise
    try:
        if cut is not None:
            last = b"data: " + error.body() + b"\n\n"
        call.end_stream(last)
    except OSError:
        return first_byte, cut or outcomes.CLIENT
    return first_byte, cut or tap.failure

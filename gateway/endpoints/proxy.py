"""`POST /v1/chat/completions` and `POST /v1/embeddings`: resolve, apply, forward, record.

Every call that got past resolution is tagged (X-Turnout-* headers) and recorded exactly once,
whichever way it ends; what escapes as an unexpected exception is rendered by the app's error
layer with the call's tags (`CALL_TAGS`).
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway import attempts
from gateway.apply import apply_chat, apply_embeddings
from gateway.attempts import falls_back, upstream_failed
from gateway.context import GatewayContext
from gateway.errors import UPSTREAM_REFUSALS, GatewayError
from gateway.forward import (
    drain,
    forwarded_headers,
    no_target,
    outcome_for_status,
    relay_buffered,
    relay_stream,
)
from gateway.intake import authenticate, read_json_object
from gateway.keys import CALL_TAGS, CONTEXT
from gateway.resolve import PIN_HEADER, choose_release, find_route
from gateway.snapshot import ServedRelease
from gateway.telemetry import recorder as outcomes
from gateway.telemetry.recorder import CallOutcome
from gateway.upstream.exchange import ProtocolError

EVAL_HEADER = "X-Turnout-Eval"
Apply = Callable[[ServedRelease, dict[str, Any]], dict[str, Any]]


async def _resolve(
    context: GatewayContext, request: web.Request
) -> tuple[ServedRelease, dict[str, Any]]:
    holder = context.holder
    if not holder.loaded:
        raise GatewayError(
            503, "gateway has no routing snapshot yet", type_="server_error", code="not_ready"
        )
    client = authenticate(request, context.client_keys)
    body = await read_json_object(request, context.settings.body_limit_bytes)
    route = find_route(holder.table, body)
    try:
        release = choose_release(route, body, request.headers, client, context.rng)
    except GatewayError as error:
        error.route = route.name  # known by now: the error response names it
        raise
    if client is not None:
        context.recorder.count_app(client.app, route.name)
    return release, body


async def _proxy(request: web.Request, apply: Apply, chat: bool) -> web.StreamResponse:
    started = time.perf_counter()
    context = request.app[CONTEXT]
    try:
        release, body = await _resolve(context, request)
    except GatewayError as error:
        context.recorder.reject(error.code or str(error.status))
        headers = {"X-Turnout-Call-Id": context.call_ids.new()[0]}
        if error.route is not None:
            headers["X-Turnout-Route"] = error.route
        return error.response(headers)
    fallback = release.fallback
    original = dict(body) if fallback is not None else body  # apply() changes the body
    response = await _call(request, context, release, body, started, apply, chat)
    if response is None and fallback is not None:  # failed, counted; the stable release answers
        response = await _call(
            request, context, fallback, original, time.perf_counter(), apply, chat, release.id
        )
    assert response is not None, "a release without a fallback always answers"
    return response


async def _call(
    request: web.Request,
    context: GatewayContext,
    release: ServedRelease,
    body: dict[str, Any],
    started: float,
    apply: Apply,
    chat: bool,
    fell_from: str | None = None,
) -> web.StreamResponse | None:
    """One call of one release, recorded once. None: it failed and falls back to stable."""
    # Issued and queued with no await in between, so the queue stays in call-number order
    # (the flusher's lookup of a pending call is a binary search).
    call_id, minute, number = context.call_ids.new()
    # Eval-gate calls (X-Turnout-Eval) are counted apart: never in the release's live telemetry
    # (the canary's evidence) nor queued for feedback attribution. Only pinned calls qualify
    # (pinning needs the `pin` capability when client keys are set): live traffic cannot hide.
    stats = release.stats
    if EVAL_HEADER in request.headers and PIN_HEADER in request.headers:
        stats = context.recorder.eval_stats_for(release.stats)
    else:
        context.recorder.note_call(minute, number, stats)
    tags = {**release.tags, "X-Turnout-Call-Id": call_id}
    if fell_from is not None:
        tags["X-Turnout-Fallback-From"] = fell_from
    request[CALL_TAGS] = tags  # for the error layer, should anything unexpected escape below
    call = CallOutcome(started)
    try:
        return await _forward(request, context, release, body, tags, call, apply, chat)
    except GatewayError as error:
        call.end(error.status, _outcome_for_error(error))
        if error.code in UPSTREAM_REFUSALS:
            context.recorder.refuse_upstream(error.code)
            context.notices.warn(error.code, "refused an upstream answer: %s", error.message)
        if upstream_failed(error) and falls_back(release, request, error.status):
            return None
        return error.response(tags)
    except asyncio.CancelledError:  # the caller went away (the server cancels its handler)
        call.end(499, outcomes.CLIENT)
        raise
    finally:
        call.record(stats, time.perf_counter())  # the eval statistics for an eval call


async def _forward(
    request: web.Request,
    context: GatewayContext,
    release: ServedRelease,
    body: dict[str, Any],
    tags: dict[str, str],
    call: CallOutcome,
    apply: Apply,
    chat: bool,
) -> web.StreamResponse | None:
    payload = apply(release, body)
    dialect = release.dialect  # the provider kind's, chosen when the table was compiled
    streaming = chat and payload.get("stream") is True
    tap = dialect.tap(payload) if streaming else None
    target = release.chat_target if chat else release.embeddings_target
    if target is None:
        raise no_target(release)
    data = dialect.encode(payload)
    call.upstream_started = time.perf_counter()
    exchange, head = await attempts.send(
        context.client, release, target, data, forwarded_headers(request), streaming, context.rng
    )
    outcome = outcome_for_status(head.status)
    if head.status >= 400 and falls_back(release, request, head.status):
        await drain(exchange)
        call.end(head.status, outcome)
        return None
    if tap is not None and head.status == 200:
        response, call.first_byte_s, cut = await relay_stream(
            request, exchange, head, tags, call.started, tap
        )
        if isinstance(exchange.error, ProtocolError):  # bad framing mid-stream: refused too
            context.recorder.refuse_upstream("upstream_bad_response")
        if tap.skipped_events:
            context.recorder.dropped["sse_events"] += tap.skipped_events
            context.notices.warn(
                "sse_event_too_large",
                "an SSE event larger than %d bytes was relayed without a usage scan",
                tap.event_limit,
            )
        call.tokens_in, call.tokens_out = tap.usage or (0, 0)
        call.end(head.status, cut or outcome)
        return response
    response, usage = await relay_buffered(exchange, head, tags, dialect)
    call.tokens_in, call.tokens_out = usage or (0, 0)
    call.end(response.status, outcome_for_status(response.status))
    return response


def _outcome_for_error(error: GatewayError) -> str:
    if error.code == "upstream_timeout":
        return outcomes.TIMEOUT
    if error.code == "upstream_connect_failed":
        return outcomes.CONNECT
    if error.code in UPSTREAM_REFUSALS:
        return outcomes.UPSTREAM_5XX
    return outcomes.CLIENT if error.status < 500 else outcomes.GATEWAY


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _proxy(request, apply_chat, chat=True)


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await _proxy(request, apply_embeddings, chat=False)

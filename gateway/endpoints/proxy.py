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

from gateway.apply import apply_chat, apply_embeddings
from gateway.context import GatewayContext
from gateway.errors import UPSTREAM_REFUSALS, GatewayError
from gateway.forward import (
    forwarded_headers,
    outcome_for_status,
    relay_buffered,
    relay_stream,
    send,
)
from gateway.intake import authenticate, read_json_object
from gateway.keys import CALL_TAGS, CONTEXT
from gateway.resolve import PIN_HEADER, choose_release, find_route
from gateway.snapshot import ServedRelease
from gateway.telemetry import recorder as outcomes
from gateway.telemetry.recorder import CallOutcome
from gateway.telemetry.usage import StreamTap, ask_for_usage, usage_of_body
from gateway.upstream.exchange import ProtocolError

EVAL_HEADER = "X-Turnout-Eval"
Apply = Callable[[ServedRelease, dict[str, Any]], dict[str, Any]]


async def _resolve(
    context: GatewayContext, request: web.Request
) -> tuple[ServedRelease, dict[str, Any], bool]:
    holder = context.holder
    if not holder.loaded:
        raise GatewayError(
            503, "gateway has no routing snapshot yet", type_="server_error", code="not_ready"
        )
    client = authenticate(request, context.client_keys)
    body = await read_json_object(request, context.settings.body_limit_bytes)
    route = find_route(holder.table, body)
    try:
        release, keyed = choose_release(route, body, request.headers, client, context.rng)
    except GatewayError as error:
        error.route = route.name  # known by now: the error response names it
        raise
    if client is not None:
        context.recorder.count_app(client.app, route.name)
    return release, body, keyed


async def _proxy(request: web.Request, apply: Apply, chat: bool) -> web.StreamResponse:
    started = time.perf_counter()
    context = request.app[CONTEXT]
    try:
        release, body, keyed = await _resolve(context, request)
    except GatewayError as error:
        context.recorder.reject(error.code or str(error.status))
        headers = {"X-Turnout-Call-Id": context.call_ids.new()[0]}
        if error.route is not None:
            headers["X-Turnout-Route"] = error.route
        return error.response(headers)
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
    request[CALL_TAGS] = tags  # for the error layer, should anything unexpected escape below
    call = CallOutcome(started)
    call.keyed = keyed
    try:
        return await _forward(request, context, release, body, tags, call, apply, chat)
    except GatewayError as error:
        call.end(error.status, _outcome_for_error(error))
        if error.code in UPSTREAM_REFUSALS:
            context.recorder.refuse_upstream(error.code)
            context.notices.warn(error.code, "refused an upstream answer: %s", error.message)
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
) -> web.StreamResponse:
    payload = apply(release, body)
    streaming = chat and payload.get("stream") is True
    tap = StreamTap(hide_usage=not ask_for_usage(payload)) if streaming else None
    target = release.chat_target if chat else release.embeddings_target
    call.upstream_started = time.perf_counter()
    exchange, head = await send(
        context.client, release, target, payload, forwarded_headers(request), streaming
    )
    outcome = outcome_for_status(head.status)
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
    response, answer = await relay_buffered(exchange, head, tags)
    call.tokens_in, call.tokens_out = (head.status == 200 and usage_of_body(answer)) or (0, 0)
    call.end(head.status, outcome)
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

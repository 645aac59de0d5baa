"""`POST /v1/chat/completions` and `POST /v1/embeddings`: resolve, apply, forward, record.

Served on the caller side's lean path (`gateway.callers`). Every call that got past resolution
is tagged (X-Turnout-* headers) and recorded exactly once, whichever way it ends; what escapes
as an unexpected exception is answered by the connection as a 500 carrying the call's tags.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway import attempts
from gateway.apply import apply_chat, apply_embeddings
from gateway.attempts import falls_back, upstream_failed
from gateway.callers.call import Call
from gateway.callers.front import Handler
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
from gateway.intake import authenticate, json_object
from gateway.resolve import PIN_HEADER, choose_release, find_route
from gateway.routing import ServedRelease
from gateway.telemetry import recorder as outcomes
from gateway.telemetry.recorder import CallOutcome
from gateway.upstream.exchange import ProtocolError

EVAL_HEADER = "X-Turnout-Eval"
Apply = Callable[[ServedRelease, dict[str, Any]], dict[str, Any]]
_NO_HEADERS: dict[str, str] = {}


def _call_id_line(call_id: str) -> bytes:
    return b"X-Turnout-Call-Id: %s\r\n" % call_id.encode()


def _resolve(context: GatewayContext, call: Call) -> tuple[ServedRelease, dict[str, Any], bool]:
    holder = context.holder
    if not holder.loaded:
        raise GatewayError(
            503, "gateway has no routing snapshot yet", type_="server_error", code="not_ready"
        )
    client = authenticate(call.authorization, context.client_keys)
    body = json_object(call.body)
    route = find_route(holder.table, body)
    try:
        release, keyed = choose_release(
            route, body, call.turnout or _NO_HEADERS, client, context.rng
        )
    except GatewayError as error:
        error.route = route.name  # known by now: the error response names it
        raise
    if client is not None:
        context.recorder.count_app(client.app, route.name)
    return release, body, keyed


async def _proxy(call: Call, apply: Apply, chat: bool) -> None:
    started = time.perf_counter()
    context = call.connection.front.context
    try:
        release, body, keyed = _resolve(context, call)
    except GatewayError as error:
        context.recorder.reject(error.code or str(error.status))
        tags = _call_id_line(context.call_ids.new()[0])
        if error.route is not None:
            tags += b"X-Turnout-Route: %s\r\n" % error.route.encode()
        call.reply_error(error, tags)
        return
    fallback = release.fallback
    original = dict(body) if fallback is not None else body  # apply() changes the body
    answered = await _call(call, context, release, body, started, apply, chat, keyed)
    if not answered and fallback is not None:  # failed, counted; the stable release answers
        # Not keyed: the sticky key placed the call on the failed release, not on the fallback.
        answered = await _call(
            call, context, fallback, original, time.perf_counter(), apply, chat, False, release.id
        )
    assert answered, "a release without a fallback always answers"


async def _call(
    call: Call,
    context: GatewayContext,
    release: ServedRelease,
    body: dict[str, Any],
    started: float,
    apply: Apply,
    chat: bool,
    keyed: bool,
    fell_from: str | None = None,
) -> bool:
    """One call of one release, recorded once. False: it failed, nothing was written to the
    caller, and it falls back to stable."""
    # Issued and noted with no await in between, so call numbers reach the call ledger in order
    # (every block of it but the newest is complete).
    call_id, minute, number = context.call_ids.new()
    # Eval-gate calls (X-Turnout-Eval) are counted apart: never in the release's live telemetry
    # (the canary's evidence) nor queued for feedback attribution. Only pinned calls qualify
    # (pinning needs the `pin` capability when client keys are set): live traffic cannot hide.
    stats = release.stats
    turnout = call.turnout
    if turnout is not None and EVAL_HEADER in turnout and PIN_HEADER in turnout:
        stats = context.recorder.eval_stats_for(release.stats)
    else:
        context.recorder.note_call(minute, number, stats)
    tags = release.tag_lines + _call_id_line(call_id)
    if fell_from is not None:
        tags += b"X-Turnout-Fallback-From: %s\r\n" % fell_from.encode()
    call.tags = tags  # for the connection's 500, should anything unexpected escape below
    outcome = CallOutcome(started)
    outcome.keyed = keyed
    try:
        return await _forward(call, context, release, body, tags, outcome, apply, chat)
    except GatewayError as error:
        outcome.end(error.status, _outcome_for_error(error))
        if error.code in UPSTREAM_REFUSALS:
            context.recorder.refuse_upstream(error.code)
            context.notices.warn(error.code, "refused an upstream answer: %s", error.message)
        if upstream_failed(error) and falls_back(release, call.turnout, error.status):
            return False
        call.reply_error(error, tags)
        return True
    except asyncio.CancelledError:  # the caller went away (the connection cancels its call)
        outcome.end(499, outcomes.CLIENT)
        raise
    finally:
        outcome.record(stats, time.perf_counter())  # the eval statistics for an eval call


async def _forward(
    call: Call,
    context: GatewayContext,
    release: ServedRelease,
    body: dict[str, Any],
    tags: bytes,
    outcome: CallOutcome,
    apply: Apply,
    chat: bool,
) -> bool:
    payload = apply(release, body)
    dialect = release.dialect  # the provider kind's, chosen when the table was compiled
    streaming = chat and payload.get("stream") is True
    tap = dialect.tap(payload) if streaming else None
    target = release.chat_target if chat else release.embeddings_target
    if target is None:
        raise no_target(release)
    data = dialect.encode(payload)
    outcome.upstream_started = time.perf_counter()
    exchange, head = await attempts.send(
        context.client, release, target, data, forwarded_headers(call), streaming, context.rng
    )
    status = head.status
    if status >= 400 and falls_back(release, call.turnout, status):
        await drain(exchange)
        outcome.end(status, outcome_for_status(status))
        return False
    if tap is not None and status == 200:
        outcome.first_byte_s, cut = await relay_stream(
            call, exchange, head, tags, outcome.started, tap
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
        outcome.tokens_in, outcome.tokens_out = tap.usage or (0, 0)
        outcome.end(status, cut or outcome_for_status(status))
        return True
    status, usage = await relay_buffered(call, exchange, head, tags, dialect)
    outcome.tokens_in, outcome.tokens_out = usage or (0, 0)
    outcome.end(status, outcome_for_status(status))
    return True


def _outcome_for_error(error: GatewayError) -> str:
    if error.code == "upstream_timeout":
        return outcomes.TIMEOUT
    if error.code == "upstream_connect_failed":
        return outcomes.CONNECT
    if error.code in UPSTREAM_REFUSALS:
        return outcomes.UPSTREAM_5XX
    return outcomes.CLIENT if error.status < 500 else outcomes.GATEWAY


async def chat_completions(call: Call) -> None:
    await _proxy(call, apply_chat, chat=True)


async def embeddings(call: Call) -> None:
    await _proxy(call, apply_embeddings, chat=False)


ROUTES: dict[bytes, Handler] = {
    b"/v1/chat/completions": chat_completions,
    b"/v1/embeddings": embeddings,
}

"""`POST /v1/chat/completions` and `POST /v1/embeddings`: resolve, apply, forward, record.

Served on the caller side's lean path (`gateway.callers`), started from the caller connection's
read callback: resolution, rendering and the upstream write run there with no task. A call
of a release without a retry policy, with an idle upstream connection at hand, is then answered
from the upstream protocol's callbacks, buffered or streamed (`gateway.endpoints.leg`);
everything that may wait (retries and fallbacks, a new upstream connection) continues as a
coroutine, the task the connection runs. Every call that got past resolution is tagged
(X-Turnout-* headers) and recorded exactly once, whichever way it ends; what escapes as an
unexpected exception is answered by the connection as a 500 carrying the call's tags.
"""

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from gateway import attempts
from gateway.apply import apply_chat, apply_embeddings
from gateway.attempts import falls_back
from gateway.callers.call import Call
from gateway.callers.front import Pending, Route
from gateway.context import GatewayContext
from gateway.dialect import Tap
from gateway.endpoints.flight import report_skipped_events
from gateway.endpoints.leg import Leg, call_id_line
from gateway.errors import GatewayError
from gateway.forward import (
    drain,
    forwarded_headers,
    no_target,
    outcome_for_status,
    relay_buffered,
    relay_stream,
)
from gateway.intake import authenticate, json_object
from gateway.resolve import choose_release, find_route
from gateway.routing import ServedRelease
from gateway.upstream.exchange import ProtocolError

Apply = Callable[[ServedRelease, dict[str, Any]], dict[str, Any]]
_NO_HEADERS: dict[str, str] = {}


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


def _begin(call: Call, apply: Apply, chat: bool) -> Pending | None:
    """The call's synchronous start, in the caller connection's read callback. None: answered
    already, or in flight on the lean path; else the coroutine that answers it."""
    started = time.perf_counter()
    context = call.connection.front.context
    try:
        release, body, keyed = _resolve(context, call)
    except GatewayError as error:
        context.recorder.reject(error.code or str(error.status))
        tags = call_id_line(context.call_ids.new()[0])
        if error.route is not None:
            tags += b"X-Turnout-Route: %s\r\n" % error.route.encode()
        call.reply_error(error, tags)
        return None
    if release.retry is None:
        target = release.chat_target if chat else release.embeddings_target
        connection = None if target is None else target.pool.take_idle()
        if target is not None and connection is not None:
            leg = Leg(call, context, release, started, keyed)
            try:
                payload = apply(release, body)
                dialect = release.dialect
                tap = dialect.tap(payload) if chat and payload.get("stream") is True else None
                data = dialect.encode(payload)
            except GatewayError as error:
                target.pool.give_back(connection)
                leg.failed(error)
                leg.record()
                return None
            except BaseException:  # a bug: the connection answers a 500, the leg counts it
                target.pool.give_back(connection)
                leg.record()
                raise
            headers = forwarded_headers(call)
            leg.fly(
                target,
                connection,
                data,
                headers,
                lambda again: _resend(again, payload, chat, tap),
                tap,
            )
            return None
    return _proxy(call, context, release, body, keyed, started, apply, chat)


async def _proxy(
    call: Call,
    context: GatewayContext,
    release: ServedRelease,
    body: dict[str, Any],
    keyed: bool,
    started: float,
    apply: Apply,
    chat: bool,
) -> None:
    fallback = release.fallback
    original = dict(body) if fallback is not None else body  # apply() changes the body
    leg = Leg(call, context, release, started, keyed)
    answered = await _leg(leg, _forward(call, context, release, body, leg, apply, chat))
    if not answered and fallback is not None:  # failed, counted; the stable release answers
        # Not keyed: the sticky key placed the call on the failed release, not on the fallback.
        leg = Leg(call, context, fallback, time.perf_counter(), False, release.id)
        answered = await _leg(leg, _forward(call, context, fallback, original, leg, apply, chat))
    assert answered, "a release without a fallback always answers"


async def _leg(leg: Leg, forward: Coroutine[Any, Any, bool]) -> bool:
    """One leg as a coroutine, recorded once. False: it failed, nothing was written to the
    caller, and it falls back to stable."""
    try:
        return await forward
    except GatewayError as error:
        return leg.failed(error)
    except asyncio.CancelledError:  # the caller went away (the connection cancels its call)
        leg.gone()
        raise
    finally:
        leg.record()


async def _resend(leg: Leg, payload: dict[str, Any], chat: bool, tap: Tap | None) -> None:
    """A lean leg whose idle upstream connection was closed: sent again, on a fresh one (its
    stream's tap as it was: it asked for usage in `payload` already)."""
    await _leg(leg, _forward(leg.call, leg.context, leg.release, payload, leg, _as_is, chat, tap))


def _as_is(release: ServedRelease, payload: dict[str, Any]) -> dict[str, Any]:
    """`Apply` for a body that is rendered already."""
    return payload


async def _forward(
    call: Call,
    context: GatewayContext,
    release: ServedRelease,
    body: dict[str, Any],
    leg: Leg,
    apply: Apply,
    chat: bool,
    tap: Tap | None = None,
) -> bool:
    outcome, tags = leg.outcome, leg.tags
    payload = apply(release, body)
    dialect = release.dialect  # the provider kind's, chosen when the table was compiled
    streaming = chat and payload.get("stream") is True
    if streaming and tap is None:
        tap = dialect.tap(payload)
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
        report_skipped_events(context, tap)
        outcome.tokens_in, outcome.tokens_out = tap.usage or (0, 0)
        outcome.end(status, cut or outcome_for_status(status))
        return True
    status, usage = await relay_buffered(call, exchange, head, tags, dialect)
    outcome.tokens_in, outcome.tokens_out = usage or (0, 0)
    outcome.end(status, outcome_for_status(status))
    return True


def chat_completions(call: Call) -> Pending | None:
    return _begin(call, apply_chat, chat=True)


def embeddings(call: Call) -> Pending | None:
    return _begin(call, apply_embeddings, chat=False)


ROUTES: dict[bytes, Route] = {
    b"/v1/chat/completions": chat_completions,
    b"/v1/embeddings": embeddings,
}

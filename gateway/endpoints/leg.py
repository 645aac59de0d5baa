"""One call of one release (a canary's fallback to stable is a second leg): its call id, tags,
outcome and telemetry record, the OpenAI-shaped answer to a failure, and — on the lean path —
the completion of a buffered answer from the upstream protocol's callback.

Why a callback and not a coroutine: on Python 3.11 a task waits its turn in the event loop's
queue twice per call (after the request is read, and after the answer is read); under load that
queue, not the work, was most of the added latency. A leg sent by `fly` finishes inside the
upstream connection's data callback: the caller's answer is written and the call recorded there,
then the caller connection goes on to its next request. Anything that must wait (a fresh
upstream connection) continues as a coroutine. No Redis I/O here.
"""

import time
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.attempts import falls_back, upstream_failed
from gateway.callers.call import Call
from gateway.context import GatewayContext
from gateway.errors import UPSTREAM_REFUSALS, GatewayError
from gateway.forward import answer_buffered, body_failure, failure, outcome_for_status
from gateway.resolve import PIN_HEADER
from gateway.routing import ServedRelease
from gateway.telemetry import recorder as outcomes
from gateway.telemetry.recorder import CallOutcome, ReleaseStats
from gateway.upstream.client import UpstreamTarget
from gateway.upstream.exchange import Exchange, UpstreamClosed
from gateway.upstream.http1 import Http1Connection

EVAL_HEADER = "X-Turnout-Eval"
# What continues a leg whose idle upstream connection turned out closed: sends again (on a fresh
# connection) and relays, as a coroutine.
Resend = Coroutine[Any, Any, None]


def call_id_line(call_id: str) -> bytes:
    return b"X-Turnout-Call-Id: %s\r\n" % call_id.encode()


class Leg:
    __slots__ = ("call", "context", "outcome", "release", "stats", "tags")

    def __init__(
        self,
        call: Call,
        context: GatewayContext,
        release: ServedRelease,
        started: float,
        keyed: bool,
        fell_from: str | None = None,
    ) -> None:
        self.call = call
        self.context = context
        self.release = release
        # Issued and noted with nothing in between, so call numbers reach the call ledger in
        # order (every block of it but the newest is complete).
        call_id, minute, number = context.call_ids.new()
        # Eval-gate calls (X-Turnout-Eval) are counted apart: never in the release's live
        # telemetry (the canary's evidence) nor queued for feedback attribution. Only pinned
        # calls qualify (pinning needs the `pin` capability when client keys are set).
        turnout = call.turnout
        if turnout is not None and EVAL_HEADER in turnout and PIN_HEADER in turnout:
            self.stats: ReleaseStats = context.recorder.eval_stats_for(release.stats)
        else:
            self.stats = release.stats
            context.recorder.note_call(minute, number, self.stats)
        tags = release.tag_lines + call_id_line(call_id)
        if fell_from is not None:
            tags += b"X-Turnout-Fallback-From: %s\r\n" % fell_from.encode()
        self.tags = tags
        call.tags = tags  # for the connection's 500, should anything unexpected escape
        self.outcome = CallOutcome(started)
        self.outcome.keyed = keyed

    def failed(self, error: GatewayError) -> bool:
        """Counts `error`; answers it unless the call falls back to stable (then False, and
        nothing was written)."""
        self.outcome.end(error.status, _outcome_for_error(error))
        context = self.context
        if error.code in UPSTREAM_REFUSALS:
            context.recorder.refuse_upstream(error.code)
            context.notices.warn(error.code, "refused an upstream answer: %s", error.message)
        if upstream_failed(error) and falls_back(self.release, self.call.turnout, error.status):
            return False
        self.call.reply_error(error, self.tags)
        return True

    def gone(self) -> None:
        self.outcome.end(499, outcomes.CLIENT)

    def record(self) -> None:
        """Once per leg, however it ended (the eval statistics for an eval call)."""
        self.outcome.record(self.stats, time.perf_counter())

    # -- the lean path: a buffered call on an idle upstream connection --------------------------
    def fly(
        self,
        target: UpstreamTarget,
        connection: Http1Connection,
        data: bytes,
        headers: bytes,
        resend: Callable[["Leg"], Resend],
    ) -> None:
        """Send on `connection` (from `take_idle`); the answer is written by `_landed`."""
        self.outcome.upstream_started = time.perf_counter()
        flight = _Flight(self, target, resend)
        self.call.flight = flight
        flight.exchange = self.context.client.send_idle(
            target, connection, data, headers, flight.landed
        )


class _Flight:
    """A leg in the air: what the caller connection abandons when its caller leaves."""

    __slots__ = ("exchange", "leg", "resend", "target")

    def __init__(self, leg: Leg, target: UpstreamTarget, resend: Callable[["Leg"], Resend]) -> None:
        self.leg = leg
        self.target = target
        self.resend = resend
        self.exchange: Exchange | None = None

    def abandon(self) -> None:
        """The caller went away: the exchange ends now (its connection is closed)."""
        if self.exchange is not None:
            self.exchange.abandon()

    def landed(self, exchange: Exchange) -> None:
        """The exchange ended (called from the upstream protocol, the connection back in its
        pool): answer the caller, record the call, let the caller connection go on."""
        leg = self.leg
        call = leg.call
        connection = call.connection
        call.flight = None
        error = exchange.error
        if isinstance(error, UpstreamClosed) and error.before_any_byte and not connection.lost:
            # the idle connection had been closed by the upstream: nothing was answered, so it
            # is sent again on a fresh connection, as the pool does for a coroutine's call
            connection.follow(call, self.resend(leg))
            return
        try:
            if error is None:
                head = exchange.response
                assert head is not None, "an exchange ends after its head"
                status, usage = answer_buffered(
                    call, head, exchange.buffered(), leg.tags, leg.release.dialect
                )
                outcome = leg.outcome
                outcome.tokens_in, outcome.tokens_out = usage or (0, 0)
                outcome.end(status, outcome_for_status(status))
            elif connection.lost:
                leg.gone()
            elif isinstance(error, OSError):
                if exchange.response is None:
                    leg.failed(failure(error, self.target))
                else:
                    leg.failed(body_failure(error))
            else:
                raise error
        except Exception:  # noqa: BLE001 - answered as the connection's logged, counted 500
            connection.failed(call)
        finally:
            leg.record()
            connection.finished(call)


def _outcome_for_error(error: GatewayError) -> str:
    if error.code == "upstream_timeout":
        return outcomes.TIMEOUT
    if error.code == "upstream_connect_failed":
        return outcomes.CONNECT
    if error.code in UPSTREAM_REFUSALS:
        return outcomes.UPSTREAM_5XX
    return outcomes.CLIENT if error.status < 500 else outcomes.GATEWAY

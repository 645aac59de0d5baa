"""One call of one release (a canary's fallback to stable is a second leg): its call id, tags,
outcome and telemetry record, the OpenAI-shaped answer to a failure, and — on the lean path —
sending it on an idle upstream connection, answered from that connection's callbacks
(`gateway.endpoints.flight`). No Redis I/O here.
"""

import time
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.attempts import falls_back, upstream_failed
from gateway.callers.call import Call
from gateway.context import GatewayContext
from gateway.dialect import Tap
from gateway.endpoints.flight import Flight, Stream
from gateway.errors import (
    UPSTREAM_REFUSALS,
    GatewayError,
)
from gateway.resolve import PIN_HEADER
from gateway.routing import ServedRelease
from gateway.telemetry import recorder as outcomes
from gateway.telemetry.recorder import CallOutcome, ReleaseStats
from gateway.upstream.client import UpstreamTarget
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

    # -- the lean path: a call on an idle upstream connection ----------------------------------
    def fly(
        self,
        target: UpstreamTarget,
        connection: Http1Connection,
        data: bytes,
        headers: bytes,
        resend: Callable[["Leg"], Resend],
        tap: Tap | None = None,
    ) -> None:
        """Send on `connection` (from `take_idle`); the answer is written by the flight's
        callbacks: whole when it ends, or, for a stream (`tap`), piece by piece as it comes."""
        self.outcome.upstream_started = time.perf_counter()
        client = self.context.client
        if tap is None:
            flight = Flight(self, target, resend)
            self.call.flight = flight
            flight.exchange = client.send_idle(target, connection, data, headers, flight.landed)
            return
        stream = Stream(self, target, resend, tap)
        self.call.flight = stream
        exchange = client.send_idle(target, connection, data, headers, stream.landed, True)
        stream.exchange = exchange
        exchange.sink = stream


def _outcome_for_error(error: GatewayError) -> str:
    if error.code == "upstream_timeout":
        return outcomes.TIMEOUT
    if error.code == "upstream_connect_failed":
        return outcomes.CONNECT
    if error.code in UPSTREAM_REFUSALS:
        return outcomes.UPSTREAM_5XX
    return outcomes.CLIENT if error.status < 500 else outcomes.GATEWAY

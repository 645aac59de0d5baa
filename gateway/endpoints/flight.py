"""A leg in the air on the lean path: its answer written from the upstream protocol's
callbacks — a buffered one whole when the exchange ends, a stream's events as each read brings
them — and the call recorded there.

Why callbacks and not a coroutine: on Python 3.11 a task waits its turn in the event loop's
queue twice per call (after the request is read, and after the answer is read) and once more per
streamed read; under load that queue, not the work, was most of the added latency. A flight is
answered inside the upstream connection's data callback and the caller connection goes on to its
next request from there. Hand-written state (a flight per leg) in place of a coroutine's locals;
it mirrors `gateway.forward`'s relays failure for failure, and what must wait (a fresh upstream
connection) continues as a coroutine. No Redis I/O here.
"""

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from gateway.context import GatewayContext
from gateway.dialect import Tap
from gateway.errors import (
    GatewayError,
    upstream_bad_response,
    upstream_timeout,
    upstream_unreachable,
)
from gateway.forward import (
    STREAM_HEADERS,
    answer_buffered,
    body_failure,
    failure,
    outcome_for_status,
    response_headers,
)
from gateway.telemetry import recorder as outcomes
from gateway.upstream.client import UpstreamTarget
from gateway.upstream.exchange import (
    Exchange,
    ProtocolError,
    UpstreamBodyTooLarge,
    UpstreamClosed,
)

if TYPE_CHECKING:
    from gateway.endpoints.leg import Leg, Resend


class Flight:
    """A leg in the air: what the caller connection abandons when its caller leaves."""

    __slots__ = ("exchange", "leg", "resend", "target")

    def __init__(
        self, leg: "Leg", target: UpstreamTarget, resend: Callable[["Leg"], "Resend"]
    ) -> None:
        self.leg = leg
        self.target = target
        self.resend = resend
        self.exchange: Exchange | None = None

    def abandon(self) -> None:
        """The caller went away: the exchange ends now (its connection is closed)."""
        if self.exchange is not None:
            self.exchange.abandon()

    def resume(self) -> None:
        """The caller reads again (only a stream waits for that)."""

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
                self.answer(exchange)
            elif connection.lost:
                leg.gone()
            elif isinstance(error, OSError):
                if exchange.response is None:
                    leg.failed(failure(error, self.target))
                else:
                    self.broke(exchange, error)
            else:
                raise error
        except Exception:  # noqa: BLE001 - answered as the connection's logged, counted 500
            connection.failed(call)
        finally:
            leg.record()
            connection.finished(call)

    def broke(self, exchange: Exchange, error: OSError) -> None:
        """The upstream failed after the answer's head."""
        self.leg.failed(body_failure(error))

    def answer(self, exchange: Exchange, body: bytes | None = None) -> None:
        """The whole answer in one write, as the dialect renders it."""
        leg = self.leg
        head = exchange.response
        assert head is not None, "an exchange ends after its head"
        status, usage = answer_buffered(
            leg.call,
            head,
            exchange.buffered() if body is None else body,
            leg.tags,
            leg.release.dialect,
        )
        outcome = leg.outcome
        outcome.tokens_in, outcome.tokens_out = usage or (0, 0)
        outcome.end(status, outcome_for_status(status))


class Stream(Flight):
    """A streamed leg relayed from the upstream protocol's callbacks, no task: each read's
    events leave in one write; while the caller does not read, the upstream is not read either.
    An answer other than 200 is gathered (capped) and answered whole, as a buffered one."""

    __slots__ = ("first_byte", "gathered", "out", "relaying", "size", "tap")

    def __init__(
        self, leg: "Leg", target: UpstreamTarget, resend: Callable[["Leg"], "Resend"], tap: Tap
    ) -> None:
        super().__init__(leg, target, resend)
        self.tap = tap
        self.relaying: bool | None = None  # known once the head came: a 200 is relayed
        self.out: list[bytes] = []  # relayed bytes of the current read
        self.gathered: list[bytes] = []  # the body of an answer that is not relayed
        self.size = 0
        self.first_byte: float | None = None

    def _open(self, exchange: Exchange) -> bool:
        head = exchange.response
        assert head is not None, "pieces come after the head"
        self.relaying = head.status == 200
        if self.relaying:
            self.leg.call.open_stream(
                head.status, response_headers(head, self.leg.tags) + STREAM_HEADERS
            )
        return self.relaying

    def piece(self, data: bytes) -> None:
        exchange = cast(Exchange, self.exchange)
        relaying = self.relaying
        if relaying is None:
            relaying = self._open(exchange)
        if relaying:
            if self.first_byte is None:
                self.first_byte = time.perf_counter() - self.leg.outcome.started
            relayed = self.tap.feed(data)  # a translating tap may raise ProtocolError
            if relayed:
                self.out.append(relayed)
            return
        self.size += len(data)
        if self.size > exchange.body_limit:
            raise UpstreamBodyTooLarge(exchange.body_limit)
        self.gathered.append(data)

    def flush(self) -> None:
        exchange = cast(Exchange, self.exchange)
        if self.relaying is None:
            if exchange.response is None:  # the head is not complete yet
                return
            self._open(exchange)
        out = self.out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        connection = self.leg.call.connection
        if connection.lost:
            exchange.abandon()
            return
        self.leg.call.send(data)
        if connection.writing_paused:
            exchange.hold()

    def resume(self) -> None:
        if self.exchange is not None and not self.exchange.finished:
            self.exchange.release()

    def answer(self, exchange: Exchange, body: bytes | None = None) -> None:
        relaying = self.relaying
        if relaying is None:
            relaying = self._open(exchange)
        if not relaying:
            super().answer(exchange, b"".join(self.gathered))
            return
        self._end(None)

    def broke(self, exchange: Exchange, error: OSError) -> None:
        relaying = self.relaying
        if relaying is None:
            relaying = self._open(exchange)
        if relaying:
            self._end(error)
        else:
            super().broke(exchange, error)

    def _end(self, error: BaseException | None) -> None:
        """The end of a relayed stream, as `gateway.forward.relay_stream` ends one."""
        leg, tap = self.leg, self.tap
        call, context, outcome = leg.call, leg.context, leg.outcome
        cut: str | None = None
        last = b"".join(self.out) + tap.rest() if error is None else b""
        if isinstance(error, TimeoutError):
            cut = outcomes.TIMEOUT
            failed: GatewayError | None = upstream_timeout(
                "upstream stalled in the middle of the stream"
            )
        elif isinstance(error, ProtocolError):
            cut = outcomes.UPSTREAM_5XX
            failed = upstream_bad_response(str(error))
            context.recorder.refuse_upstream("upstream_bad_response")
        elif error is not None:
            cut = outcomes.CONNECT
            failed = upstream_unreachable(f"upstream connection failed mid-stream: {error}")
        else:
            failed = None
        if failed is not None:
            last = b"data: " + failed.body() + b"\n\n"
        try:
            call.end_stream(last)
        except OSError:
            cut = cut or outcomes.CLIENT
        report_skipped_events(context, tap)
        outcome.first_byte_s = self.first_byte
        outcome.tokens_in, outcome.tokens_out = tap.usage or (0, 0)
        outcome.end(200, cut or tap.failure or outcomes.OK)


def report_skipped_events(context: GatewayContext, tap: Tap) -> None:
    """Count, and warn once in a while about, SSE events relayed without a usage scan."""
    if tap.skipped_events:
        context.recorder.dropped["sse_events"] += tap.skipped_events
        context.notices.warn(
            "sse_event_too_large",
            "an SSE event larger than %d bytes was relayed without a usage scan",
            tap.event_limit,
        )

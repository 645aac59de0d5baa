"""What every caller connection of one gateway process shares: the hot routes, the
hand-off of other requests, limits and time-outs, the connection registry (a sweep once a
second closes idle and stalled connections) and the drain at shutdown. No parsing here."""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from gateway.callers.call import Call
from gateway.callers.heads import Clock
from gateway.context import GatewayContext

if TYPE_CHECKING:
    from gateway.callers.connection import CallerConnection

# What answers a call that must wait (for an upstream connection, a stream, a retry)
Pending = Coroutine[Any, Any, object]
# A hot route: starts the call in the read callback; None when it is answered already or will be
# from the upstream's callback (then it calls `CallerConnection.finished`), else what answers it.
Route = Callable[[Call], Pending | None]
Handler = Callable[[Call], Pending]  # the hand-off of every other request
SWEEP_INTERVAL_S = 1.0


class Front:
    __slots__ = (
        "_sweeper",
        "body_limit",
        "caller_timeout_s",
        "clock",
        "connections",
        "context",
        "drained",
        "handoff",
        "keepalive_timeout_s",
        "loop",
        "routes",
        "shutting_down",
        "sweep_interval_s",
    )

    def __init__(
        self,
        context: GatewayContext,
        routes: dict[bytes, Route],
        handoff: Handler,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        settings = context.settings
        self.context = context
        self.routes = routes  # POST path -> handler, answered on the lean path
        self.handoff = handoff  # every other request: the aiohttp application
        self.loop = loop
        self.body_limit = settings.body_limit_bytes
        self.caller_timeout_s = settings.caller_timeout_s
        self.keepalive_timeout_s = settings.keepalive_timeout_s
        # short time-outs (tests) are checked more often than once a second
        self.sweep_interval_s = min(
            SWEEP_INTERVAL_S, self.caller_timeout_s / 4, self.keepalive_timeout_s / 4
        )
        self.clock = Clock()
        self.connections: set[CallerConnection] = set()
        self.shutting_down = False
        self.drained = asyncio.Event()  # set when the last connection closes during shutdown
        self._sweeper: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._sweeper = self.loop.call_later(self.sweep_interval_s, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            connection.check(now)
        self._sweeper = self.loop.call_later(self.sweep_interval_s, self._sweep)

    def forget(self, connection: "CallerConnection") -> None:
        self.connections.discard(connection)
        if self.shutting_down and not self.connections:
            self.drained.set()

    async def drain(self, timeout_s: float) -> None:
        """Stop taking calls: idle connections close now, busy ones after their answer; what
        is still open after `timeout_s` is cut."""
        self.shutting_down = True
        for connection in list(self.connections):
            connection.shut()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), timeout_s)
        for connection in list(self.connections):
            connection.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

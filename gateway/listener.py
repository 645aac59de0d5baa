"""The gateway's listener: a uvloop server on the port (SO_REUSEPORT when several workers share
it) whose every connection speaks the caller side's protocol (`gateway.callers`), started and
stopped together with the aiohttp application that serves the other endpoints and owns the
Redis lifecycle (`gateway.app`).

Why two servers in one: the two hot routes are most of the traffic and most of the cost was
aiohttp's server layers, so they get a lean protocol; feedback, models, metrics and health stay
on aiohttp, reached in-process (`gateway.callers.handoff`), so they keep its routing, error
layer and tests. Only the lean protocol ever reads a caller's bytes.
"""

import asyncio
import socket

from aiohttp import web

from gateway.callers.connection import CallerConnection
from gateway.callers.front import Front
from gateway.callers.handoff import Handoff
from gateway.callers.reading import MAX_HEAD_BYTES, MAX_HEADERS, MAX_TARGET_BYTES
from gateway.context import GatewayContext
from gateway.endpoints import proxy
from gateway.keys import CONTEXT

BACKLOG = 1024
SHUTDOWN_TIMEOUT_S = 10.0  # in-flight calls get this long to finish at shutdown
HANDOFF_KEEPALIVE_S = 3630.0  # aiohttp closes a hand-off channel idle for this long


class GatewayListener:
    def __init__(
        self, app: web.Application, *, handoff_keepalive_s: float = HANDOFF_KEEPALIVE_S
    ) -> None:
        self.app = app
        # aiohttp's own limits are tighter than the caller side's: raised so that it takes
        # every request the caller side let through (it never reads a caller's bytes itself)
        self.runner = web.AppRunner(
            app,
            access_log=None,
            handler_cancellation=True,
            max_line_size=MAX_TARGET_BYTES + 64,
            max_field_size=MAX_HEAD_BYTES,
            max_headers=MAX_HEADERS + 2,
            keepalive_timeout=handoff_keepalive_s,
        )
        self.front: Front | None = None
        self.server: asyncio.Server | None = None
        self.handoff: Handoff | None = None

    @property
    def context(self) -> GatewayContext:
        return self.app[CONTEXT]

    @property
    def port(self) -> int:
        assert self.server is not None, "not started"
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Start the application (Redis sync, telemetry), then take connections."""
        loop = asyncio.get_running_loop()
        await self.runner.setup()
        server = self.runner.server
        assert server is not None
        self.handoff = Handoff(server, loop)
        front = self.front = Front(self.context, proxy.ROUTES, self.handoff, loop)
        self.server = await loop.create_server(
            lambda: CallerConnection(front),
            host,
            port,
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            reuse_port=reuse_port or None,
            backlog=BACKLOG,
        )
        front.start()

    async def stop(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Stop taking connections, let calls in flight finish (up to `timeout_s`), then stop
        the application (its last telemetry flush included)."""
        if self.server is not None:
            self.server.close()
        if self.front is not None:
            await self.front.drain(timeout_s)
        if self.handoff is not None:
            self.handoff.close()
        await self.runner.cleanup()

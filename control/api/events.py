"""`GET /admin/events[?route=NAME]`: live changes as server-sent events, for the dashboard.

Authenticated like every admin call, with the `Authorization` header (browsers read the stream
with `fetch`, since `EventSource` cannot send headers; a token never goes in a URL). Events:
`hello` (who and what is watched), `route` (a route changed: read it again), `rollout` (the
rollout record changed, with its progress and new evidence points), `resync` (events were
missed: read everything again), `heartbeat` every `HEARTBEAT_S`. The stream carries only what
the hub fans out; state is always read from the admin API itself.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from control.api import rollouts
from control.api.auth import Authenticator, authorize
from control.api.endpoint import STORE
from control.errors import ControlError
from control.live.hub import CLOSED, EventHub, frame
from control.registry import rules
from control.routes import views

HUB = web.AppKey("turnout_live_hub", EventHub)
HEARTBEAT_S = 15.0
MAX_STREAMS = 200  # per admin process; more are refused with 503
HEARTBEAT = frame("heartbeat", {})


EVENTS = ("hello", "route", "route_deleted", "providers", "rollout", "resync", "heartbeat")
# One event of the stream (OpenAPI 3.1: `schema` of an event-stream describes each event).
EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": list(EVENTS)},
        "data": {"type": "string", "description": "a JSON object"},
    },
}
# Its entry in the OpenAPI document (a stream, so not declared like the JSON endpoints).
OPENAPI_PATHS = {
    "/admin/events": {
        "get": {
            "operationId": "events",
            "summary": "Live changes as server-sent events (hello, route, rollout, resync, …)",
            "parameters": [
                {
                    "name": "route",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "pattern": f"^{rules.NAME_PATTERN}$"},
                }
            ],
            "responses": {
                "200": {
                    "description": "an event stream (one JSON object per `data:` line)",
                    "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
                },
                "400": {"description": "the route is not a valid name"},
                "401": {"description": "missing or invalid bearer token"},
                "404": {"description": "no such route"},
                "503": {"description": "too many open streams"},
            },
            "security": [{"bearer": []}],
            "x-turnout-role": "viewer",
        }
    }
}


class Busy(ControlError):
    status = 503
    code = "busy"


async def _open(request: web.Request, authenticator: Authenticator) -> tuple[str, str | None]:
    identity = authenticator.identify(request.headers.get("Authorization"))
    authorize(identity, "viewer")
    route = request.query.get("route")
    if route is not None:
        rules.check_name("route", route)
        await views.read(request.app[STORE], route)  # 404 for a route that does not exist
    return identity.name, route


def install(app: web.Application, authenticator: Authenticator) -> None:
    """Adds the stream's route and the hub's life cycle to the admin app."""

    async def hub_lifecycle(app: web.Application) -> AsyncIterator[None]:
        app[HUB] = EventHub(app[STORE].redis, rollouts.progress)
        yield
        await app[HUB].close()

    async def end_streams(app: web.Application) -> None:
        # Runs before aiohttp waits for open requests: without it, shutdown would wait for
        # every open stream to time out.
        if HUB in app:
            await app[HUB].close()

    async def stream(request: web.Request) -> web.StreamResponse:
        name, route = await _open(request, authenticator)  # errors: the app's error layer
        hub = request.app[HUB]
        if hub.subscribers >= MAX_STREAMS:
            raise Busy(f"more than {MAX_STREAMS} open event streams; close one")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # proxies must not buffer the stream
            }
        )
        await response.prepare(request)
        subscriber = hub.subscribe(route)
        try:
            await response.write(frame("hello", {"actor": name, "route": route}))
            while True:
                try:
                    data = await asyncio.wait_for(subscriber.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    data = HEARTBEAT
                if data == CLOSED:
                    break
                await response.write(data)
        except ConnectionError:
            pass  # the browser went away
        finally:
            hub.unsubscribe(subscriber)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    app.cleanup_ctx.append(hub_lifecycle)
    app.on_shutdown.append(end_streams)
    app.router.add_get("/admin/events", stream)

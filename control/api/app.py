"""Builds the admin API's aiohttp Application from the endpoint tables of its modules.

Extend it by adding a module with an `ENDPOINTS` list to `ENDPOINT_TABLES` (or pass `extra`):
routing, auth, decoding, errors and the OpenAPI document follow from the declarations.
"""

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from importlib import metadata

import msgspec
from aiohttp import web
from redis.exceptions import RedisError

from control.api import (
    audit,
    backup,
    events,
    gate,
    group_rollouts,
    groups,
    impact,
    metrics,
    models,
    openapi,
    prompts,
    providers,
    reviews,
    rollouts,
    routes,
    series,
    stats,
    timeline,
    webhooks,
    whoami,
    windows,
)
from control.api.auth import Authenticator, authorize, parse_tokens
from control.api.bodies import BodyDecoder
from control.api.endpoint import STORE, Call, Endpoint, decode_query, status_of
from control.api.errors import Handler, error_layer
from control.errors import BadInput, ControlError, from_validation
from control.notify.worker import Deliverer
from control.rollout.controller import Controller
from control.settings import ControlSettings
from control.store import Store, redis_client
from control.ui import serve as dashboard

ENDPOINT_TABLES: tuple[Sequence[Endpoint], ...] = (
    providers.ENDPOINTS,
    prompts.ENDPOINTS,
    models.ENDPOINTS,
    routes.ENDPOINTS,
    audit.ENDPOINTS,
    stats.ENDPOINTS,
    backup.ENDPOINTS,
    rollouts.ENDPOINTS,
    gate.ENDPOINTS,
    windows.ENDPOINTS,
    reviews.ENDPOINTS,
    impact.ENDPOINTS,
    webhooks.ENDPOINTS,
    timeline.ENDPOINTS,
    groups.ENDPOINTS,
    group_rollouts.ENDPOINTS,
    series.ENDPOINTS,
    whoami.ENDPOINTS,
)
OPENAPI_PATH = "/admin/openapi.json"
RESTORE_LIMIT_BYTES = 64 * 1024 * 1024

SETTINGS = web.AppKey("turnout_control_settings", ControlSettings)
AUTH = web.AppKey("turnout_control_auth", Authenticator)

_encoder = msgspec.json.Encoder()


def _version() -> str:
    try:
        return metadata.version("turnout")
    except metadata.PackageNotFoundError:
        return "0"


def _adapt(endpoint: Endpoint) -> Handler:
    body_decoder = BodyDecoder(endpoint.body) if endpoint.body is not None else None

    async def handle(request: web.Request) -> web.StreamResponse:
        identity = None
        if endpoint.role is not None:
            identity = request.app[AUTH].identify(request.headers.get("Authorization"))
            authorize(identity, endpoint.role)
        if endpoint.epoch_check:  # before anything is read: a change over lost data is a 503
            await request.app[STORE].guard.check()
        arguments = {}
        try:  # only what the caller sent is a 400; a record read from Redis that does not
            # decode is a server error (500 from the error layer)
            if body_decoder is not None:
                arguments["body"] = body_decoder.decode(await request.read())
            if endpoint.query is not None:
                arguments["query"] = decode_query(endpoint.query, request)
        except msgspec.ValidationError as error:
            raise from_validation(error) from None
        except msgspec.DecodeError as error:
            raise BadInput(
                f"body: must be a JSON object ({error})", field="body", code="invalid_json"
            ) from None
        reply = await endpoint.handler(Call(request, identity), **arguments)
        return web.Response(
            status=status_of(endpoint, reply),
            body=_encoder.encode(reply),
            content_type="application/json",
        )

    return handle


async def _store_lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    redis = redis_client(
        settings.redis_url, socket_timeout=5.0, socket_connect_timeout=5.0, health_check_interval=5
    )
    store = Store(redis, settings.audit_max_entries)
    app[STORE] = store
    with contextlib.suppress(RedisError, OSError, TimeoutError, ControlError):
        # A fresh registry gets its data epoch now; Redis down or data lost must not stop the start
        await asyncio.wait_for(store.guard.check(), timeout=2.0)
    yield
    await redis.aclose()


async def _webhook_worker(app: web.Application) -> AsyncIterator[None]:
    """The webhook delivery worker, beside the admin API (off every request path)."""
    settings = app[SETTINGS]
    deliverer = Deliverer(
        app[STORE],
        poll_s=settings.webhook_poll_s,
        retry_base_s=settings.webhook_retry_base_s,
        retry_max_s=settings.webhook_retry_max_s,
    )
    task = asyncio.create_task(deliverer.run(), name="turnout-webhooks")
    yield
    deliverer.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def healthz(_request: web.Request) -> web.Response:
    """Liveness for container and Kubernetes probes: the process serves HTTP (no auth, no I/O)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: Redis answers, so admin calls can succeed (no auth; names no secret)."""
    try:
        await request.app[STORE].redis.ping()
    except (RedisError, OSError) as error:
        return web.json_response({"ready": False, "redis": str(error)}, status=503)
    return web.json_response({"ready": True})


async def _controller_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """The rollout controller's loop, owned by the app (one per replica; one of them leads)."""
    settings = app[SETTINGS]
    controller = Controller(
        app[STORE],
        tick_s=settings.rollout_tick_s,
        lease_ms=settings.lease_ms,
        settle_s=settings.rollout_settle_s,
    )
    app[rollouts.CONTROLLER] = controller
    task = asyncio.create_task(controller.run(), name="rollout-controller")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await controller.stop()


def build_admin_app(
    settings: ControlSettings, *, extra: Sequence[Endpoint] = ()
) -> web.Application:
    endpoints = [*itertools.chain.from_iterable(ENDPOINT_TABLES), *extra]
    # A restore carries the whole registry, an eval gate record its per-case scores: larger
    # than aiohttp's 1 MiB default; only read after the caller's token and role are checked.
    app = web.Application(middlewares=[error_layer], client_max_size=RESTORE_LIMIT_BYTES)
    app[SETTINGS] = settings
    app[AUTH] = Authenticator(parse_tokens(settings.admin_tokens))
    app[rollouts.POLICIES] = settings.rollout_policies
    app.cleanup_ctx.append(_store_lifecycle)
    app.cleanup_ctx.append(_webhook_worker)
    if settings.controller:
        app.cleanup_ctx.append(_controller_lifecycle)
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, endpoint.path, _adapt(endpoint))
    described = openapi.document(endpoints, _version())
    described["paths"].update(events.OPENAPI_PATHS)
    document = _encoder.encode(described)

    async def serve_openapi(_request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app.router.add_get(OPENAPI_PATH, serve_openapi)
    app.router.add_get("/metrics", metrics.serve_metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    events.install(app, app[AUTH])  # live changes for the dashboard (server-sent events)
    dashboard.install(app)  # the dashboard's static files at /ui
    return app

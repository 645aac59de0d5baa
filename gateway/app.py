"""Builds the gateway's aiohttp Application: routes, error layer, Redis sync lifecycle."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.context import GatewayContext
from gateway.endpoints import info, proxy
from gateway.errors import GatewayError
from gateway.keys import CONTEXT, REGISTRY
from gateway.settings import GatewaySettings
from gateway.sync import Syncer, load_file
from gateway.telemetry.prometheus import GatewayCollector

log = logging.getLogger("turnout.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_layer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: every failure leaves as an OpenAI-shaped error, never a traceback."""
    try:
        return await handler(request)
    except GatewayError as error:
        return error.response()
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        return GatewayError(
            http_error.status, http_error.reason, code=http_error.reason.lower().replace(" ", "_")
        ).response()
    except Exception:  # the one place a surprise becomes a clean 500
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return GatewayError(
            500, "internal gateway error", type_="server_error", code="internal_error"
        ).response()


def redis_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=5,
        retry_on_timeout=False,
    )


async def _sync_lifecycle(app: web.Application) -> AsyncIterator[None]:
    context = app[CONTEXT]
    settings = context.settings
    task: asyncio.Task[None] | None = None
    redis: aioredis.Redis | None = None
    if settings.redis_url:
        redis = redis_client(settings.redis_url)
        syncer = Syncer(redis, context.holder, settings.poll_interval_s)
        with contextlib.suppress(Exception):
            # A first load bounded in time; Redis being down must not stop the start.
            await asyncio.wait_for(syncer.full_reload(), timeout=2.0)
        syncer.start_from_file()
        task = asyncio.create_task(syncer.run(), name="turnout-sync")
    else:
        log.warning("no Redis URL: the gateway serves only its last-known-good snapshot")
        snapshot = load_file(settings.snapshot_file)
        if snapshot is not None:
            context.holder.apply(snapshot, "file")
    yield
    if task is not None:
        syncer.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if redis is not None:
        await redis.aclose()
    context.client.close()


def build_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(
        middlewares=[error_layer],
        client_max_size=settings.body_limit_bytes,
    )
    context = GatewayContext(settings)
    app[CONTEXT] = context
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(context.recorder, context.holder))
    app[REGISTRY] = registry
    app.cleanup_ctx.append(_sync_lifecycle)
    app.router.add_post("/v1/chat/completions", proxy.chat_completions)
    app.router.add_post("/v1/embeddings", proxy.embeddings)
    app.router.add_get("/v1/models", info.list_models)
    app.router.add_get("/healthz", info.healthz)
    app.router.add_get("/readyz", info.readyz)
    app.router.add_get("/metrics", info.metrics)
    return app

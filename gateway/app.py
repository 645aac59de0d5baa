"""Builds the gateway's aiohttp Application: routes, error layer, Redis sync lifecycle."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from gateway.context import GatewayContext
from gateway.contract.redis_url import connect
from gateway.endpoints import feedback, info, proxy
from gateway.errors import GatewayError
from gateway.keys import CALL_TAGS, CONTEXT, REGISTRY
from gateway.listener import GatewayRunner
from gateway.settings import GatewaySettings
from gateway.sync import SnapshotHolder, Syncer, load_file
from gateway.telemetry.prometheus import GatewayCollector, SnapshotStatus
from gateway.telemetry.store import TelemetryStore

log = logging.getLogger("turnout.gateway")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_layer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: every failure leaves as an OpenAI-shaped error, never a traceback. A call past
    resolution keeps its tags (the proxy has recorded it as a gateway failure already); one that
    failed before is counted in `turnout_rejected_total{code="internal_error"}`."""
    try:
        return await handler(request)
    except GatewayError as error:
        return error.response(request.get(CALL_TAGS))
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        return GatewayError(
            http_error.status, http_error.reason, code=http_error.reason.lower().replace(" ", "_")
        ).response()
    except Exception:  # the one place a surprise becomes a clean 500 (logged)
        context = request.app[CONTEXT]
        context.notices.warn(
            "internal_error",
            "unhandled error serving %s %s",
            request.method,
            request.path,
            exc_info=True,
        )
        if request.writer.output_size:  # a stream had started: aiohttp closes the connection
            raise
        if CALL_TAGS not in request:  # not recorded against a release: count it here
            context.recorder.reject("internal_error")
        return GatewayError(
            500, "internal gateway error", type_="server_error", code="internal_error"
        ).response(request.get(CALL_TAGS))


def snapshot_status(holder: SnapshotHolder) -> SnapshotStatus:
    return SnapshotStatus(
        revisions={name: route.revision for name, route in holder.table.routes.items()},
        weights_bp={
            name: dict(route.snapshot.state.weights_bp)
            for name, route in holder.table.routes.items()
        },
        rejected=list(holder.table.rejected),
        staleness_s=holder.staleness_s(),
        redis_connected=holder.redis_connected,
        data_lost=holder.data_lost is not None,
    )


def redis_client(url: str) -> aioredis.Redis:
    return connect(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=5,
        retry_on_timeout=False,
    )


async def _redis_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Snapshot sync and telemetry flushing: background tasks owned by the app."""
    context = app[CONTEXT]
    settings = context.settings
    if not settings.redis_url:
        log.warning("no Redis URL: the gateway serves only its last-known-good snapshot")
        snapshot = load_file(settings.snapshot_file)
        if snapshot is not None:
            context.holder.apply(snapshot, "file")
        yield
        context.client.close()
        return
    redis = redis_client(settings.redis_url)
    syncer = Syncer(redis, context.holder, settings.poll_interval_s)
    # The file first: its data epoch is how a Redis that lost its data is told from a fresh one.
    syncer.start_from_file()
    with contextlib.suppress(RedisError, OSError, TimeoutError):
        # A first load bounded in time; Redis being down must not stop the start.
        await asyncio.wait_for(syncer.full_reload(), timeout=2.0)
    store = TelemetryStore(
        redis,
        context.recorder,
        settings.flush_interval_s,
        settings.call_ttl_s,
        context.call_ids.process,
    )
    context.telemetry = store
    tasks = [
        asyncio.create_task(syncer.run(), name="turnout-sync"),
        asyncio.create_task(store.flusher.run(), name="turnout-flush"),
    ]
    yield
    syncer.stop()
    store.flusher.stop()
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=1.0)
    with contextlib.suppress(RedisError, OSError, TimeoutError):
        await asyncio.wait_for(store.flusher.flush(), timeout=2.0)  # last counts of this process
    await redis.aclose()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    context.client.close()


def make_runner(app: web.Application, *, handle_signals: bool = False) -> web.AppRunner:
    """How every runner of `turnout up` and the tests is set up (`server` mirrors it): no access
    log on the hot path; a caller that disconnects cancels its handler, so a stalled upstream
    call is abandoned at once. The gateway's own app also answers malformed HTTP OpenAI-shaped
    (`gateway.listener`); other apps (admin API, simulator) keep aiohttp's answer."""
    if CONTEXT not in app:
        return web.AppRunner(
            app, access_log=None, handler_cancellation=True, handle_signals=handle_signals
        )
    return GatewayRunner(
        app,
        app[CONTEXT].notices,
        access_log=None,
        handler_cancellation=True,
        handle_signals=handle_signals,
    )


def build_app(settings: GatewaySettings) -> web.Application:
    app = web.Application(
        middlewares=[error_layer],
        client_max_size=settings.body_limit_bytes,
    )
    context = GatewayContext(settings)
    app[CONTEXT] = context
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(context.recorder, lambda: snapshot_status(context.holder)))
    app[REGISTRY] = registry
    app.cleanup_ctx.append(_redis_lifecycle)
    app.router.add_post("/v1/chat/completions", proxy.chat_completions)
    app.router.add_post("/v1/embeddings", proxy.embeddings)
    app.router.add_post("/v1/feedback", feedback.post_feedback)
    app.router.add_get("/v1/models", info.list_models)
    app.router.add_get("/healthz", info.healthz)
    app.router.add_get("/readyz", info.readyz)
    app.router.add_get("/metrics", info.metrics)
    return app

"""Running the gateway: uvloop, one process per worker sharing the port (SO_REUSEPORT)."""

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sys

from aiohttp import web

from gateway.app import build_app
from gateway.settings import GatewaySettings

log = logging.getLogger("turnout.gateway")


def install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _freeze_startup_objects(app: web.Application) -> None:
    """Start-up objects live for the whole process: keep the collector from rescanning them."""
    gc.collect()
    gc.freeze()


def _serve_one(settings: GatewaySettings, reuse_port: bool) -> None:
    install_uvloop()
    app = build_app(settings)
    app.on_startup.append(_freeze_startup_objects)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        handler_cancellation=True,  # as in gateway.app.make_runner
        reuse_port=reuse_port,
        print=None,
        handle_signals=True,
    )


def serve(settings: GatewaySettings) -> None:
    if settings.workers == 1:
        log.info("gateway listening on http://%s:%d", settings.host, settings.port)
        _serve_one(settings, reuse_port=False)
        return
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_serve_one, args=(settings, True), name=f"gateway-{i}")
        for i in range(settings.workers)
    ]
    for worker in workers:
        worker.start()
    log.info(
        "gateway listening on http://%s:%d with %d workers",
        settings.host,
        settings.port,
        settings.workers,
    )

    def forward(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()
    sys.exit(max((w.exitcode or 0) for w in workers))

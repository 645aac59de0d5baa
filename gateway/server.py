"""Running the gateway: uvloop, one process per worker sharing the port (SO_REUSEPORT)."""

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import sys

from aiohttp import web

from gateway.app import build_app, make_runner
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
    """One serving process, as `web.run_app` would run it but with the gateway's runner (see
    `gateway.listener`). SIGTERM/SIGINT end it gracefully: the app's cleanup runs."""
    install_uvloop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = build_app(settings)
    app.on_startup.append(_freeze_startup_objects)
    main = loop.create_task(_listen(app, settings, reuse_port))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(main)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _listen(app: web.Application, settings: GatewaySettings, reuse_port: bool) -> None:
    runner = make_runner(app, handle_signals=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port)
        await site.start()
        await asyncio.Event().wait()  # until a signal raises GracefulExit
    finally:
        await runner.cleanup()


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

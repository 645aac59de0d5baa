"""Running the gateway: uvloop, one process per worker sharing the port (SO_REUSEPORT), each
serving through `gateway.listener`."""

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import resource
import signal
import sys

from aiohttp import web

from gateway.app import build_app
from gateway.listener import GatewayListener
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


def _raise_file_limit() -> None:
    """Each open call holds two sockets (caller and upstream): allow as many as the hard limit
    does, not a soft default of 1024 (about 500 concurrent streams)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _serve_one(settings: GatewaySettings, reuse_port: bool) -> None:
    """One serving process. SIGTERM/SIGINT end it gracefully: calls in flight finish, then the
    app's cleanup runs (the last telemetry flush)."""
    install_uvloop()
    _raise_file_limit()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = build_app(settings)
    app.on_startup.append(_freeze_startup_objects)
    try:
        loop.run_until_complete(_listen(app, settings, reuse_port))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _listen(app: web.Application, settings: GatewaySettings, reuse_port: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    listener = GatewayListener(app)
    try:
        await listener.start(settings.host, settings.port, reuse_port=reuse_port)
        await stop.wait()
    finally:
        await listener.stop()


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

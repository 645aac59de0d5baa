"""`turnout up`: embedded Redis (when no REDIS_URL), optional simulator and demo route, the gateway
and the control plane, all in one process on one event loop."""

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path

import msgspec
import redis.asyncio as aioredis
from aiohttp import web

from gateway.app import build_app as build_gateway_app
from gateway.server import install_uvloop
from gateway.settings import GatewaySettings
from simulator.server import build_app as build_simulator_app
from turnout.demo import DEMO_ROUTE, create_demo
from turnout.embedded_redis import EmbeddedRedis, RedisBinaryMissing

log = logging.getLogger("turnout.up")


def _banner(settings: GatewaySettings, args: argparse.Namespace, demo: bool) -> str:
    base = f"http://{settings.host}:{settings.port}/v1"
    lines = [
        "",
        f"Turnout gateway  {base}",
        f"Turnout admin    http://{settings.host}:{args.admin_port}/admin",
        f"Redis            {settings.redis_url}",
    ]
    if demo:
        lines += [
            "",
            f"Try the demo route ({DEMO_ROUTE}: r1 at 100%, r2 at 0%):",
            f"  curl -s {base}/chat/completions -H 'Content-Type: application/json' \\",
            f'    -d \'{{"model": "{DEMO_ROUTE}", "messages": '
            '[{"role": "user", "content": "hello"}]}\' -i',
            "",
            "  from openai import OpenAI",
            f'  client = OpenAI(base_url="{base}", api_key="unused")',
            f'  client.chat.completions.create(model="{DEMO_ROUTE}", '
            'messages=[{"role": "user", "content": "hello"}])',
        ]
    return "\n".join(lines)


async def _serve(settings: GatewaySettings, args: argparse.Namespace) -> None:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, port: int) -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, settings.host, port).start()
        runners.append(runner)

    try:
        if args.demo:
            await start(build_simulator_app(), args.sim_port)
            assert settings.redis_url is not None
            redis = aioredis.Redis.from_url(settings.redis_url)
            try:
                sim_url = f"http://127.0.0.1:{args.sim_port}/v1"
                created = await create_demo(redis, sim_url)
                log.info("demo route %s", "created" if created else "already present, kept")
            finally:
                await redis.aclose()
        await start(build_gateway_app(settings), settings.port)
        print(_banner(settings, args, args.demo), flush=True)
        await asyncio.Event().wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def run_up(args: argparse.Namespace, settings: GatewaySettings) -> int:
    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(Path(settings.data_dir) / "redis")
        try:
            embedded.start()
        except RedisBinaryMissing as error:
            print(f"turnout: {error}")
            return 1
        settings = msgspec.structs.replace(settings, redis_url=embedded.url)
        log.info("embedded redis-server started on %s", embedded.url)
    install_uvloop()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(settings, args))
    finally:
        if embedded is not None:
            embedded.stop()
    return 0

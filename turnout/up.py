"""`turnout up`: embedded Redis (when no REDIS_URL), optional simulator and demo route, the gateway
and the admin API, all in one process on one event loop. Without TURNOUT_ADMIN_TOKENS an admin
token is generated on the first start, printed once and kept in the data dir."""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec
from aiohttp import web

from control.api.app import build_admin_app
from control.cli.client import TOKEN_FILE
from control.settings import ControlSettings
from gateway.app import build_app as build_gateway_app
from gateway.app import make_runner
from gateway.contract.redis_url import connect
from gateway.server import install_uvloop
from gateway.settings import GatewaySettings
from simulator.server import build_app as build_simulator_app
from turnout.admin_token import admin_tokens
from turnout.demo import DEMO_ROUTE, create_demo
from turnout.embedded_redis import EmbeddedRedis, RedisBinaryMissing

log = logging.getLogger("turnout.up")


def _token_lines(settings: GatewaySettings, fresh_token: str | None) -> list[str]:
    stored = Path(settings.data_dir) / TOKEN_FILE
    if fresh_token is not None:
        return [
            f"Admin token      {fresh_token}",
            f"                 (shown once; kept in {stored} for the next starts and the CLI)",
        ]
    if os.environ.get("TURNOUT_ADMIN_TOKENS"):
        return ["Admin tokens     from TURNOUT_ADMIN_TOKENS"]
    return [f"Admin token      in {stored}"]


def redacted(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _banner(
    settings: GatewaySettings, args: argparse.Namespace, demo: bool, fresh_token: str | None
) -> str:
    base = f"http://{settings.host}:{settings.port}/v1"
    lines = [
        "",
        f"Turnout gateway  {base}",
        f"Turnout admin    http://{settings.host}:{args.admin_port}/admin",
        f"Dashboard        http://{settings.host}:{args.admin_port}/ui/",
        f"Redis            {redacted(settings.redis_url or '')}",
        *_token_lines(settings, fresh_token),
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
            "",
            "Move traffic (the CLI reads the admin token from the data dir):",
            f"  turnout route show {DEMO_ROUTE}",
            f"  turnout weights set {DEMO_ROUTE} r1=90 r2=10 --reason 'try the concise prompt'",
            f"  turnout rollback {DEMO_ROUTE} --reason 'back to stable'",
        ]
    return "\n".join(lines)


async def _serve(settings: GatewaySettings, args: argparse.Namespace) -> None:
    tokens, fresh_token = admin_tokens(settings.data_dir)
    assert settings.redis_url is not None
    control = ControlSettings(
        redis_url=settings.redis_url,
        host=settings.host,
        port=args.admin_port,
        data_dir=settings.data_dir,
        admin_tokens=tokens,
    )
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, port: int) -> None:
        runner = make_runner(app)
        await runner.setup()
        await web.TCPSite(runner, settings.host, port).start()
        runners.append(runner)

    try:
        if args.demo:
            await start(build_simulator_app(), args.sim_port)
            redis = connect(settings.redis_url)
            try:
                sim_url = f"http://127.0.0.1:{args.sim_port}/v1"
                created = await create_demo(redis, sim_url)
                log.info("demo route %s", "created" if created else "already present, kept")
            finally:
                await redis.aclose()
        await start(build_gateway_app(settings), settings.port)
        await start(build_admin_app(control), args.admin_port)
        print(_banner(settings, args, args.demo, fresh_token), flush=True)
        stop = asyncio.Event()
        # SIGTERM (docker stop, systemd) stops as cleanly as Ctrl-C: runners, then Redis.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def run_up(args: argparse.Namespace, settings: GatewaySettings) -> int:
    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        # Absolute: redis-server changes into --dir before it opens its log file.
        embedded = EmbeddedRedis(Path(settings.data_dir).resolve() / "redis")
        try:
            embedded.start()
        except (RedisBinaryMissing, RuntimeError, TimeoutError) as error:
            embedded.stop()  # a server that started but never answered must not linger
            print(f"turnout: embedded Redis: {error}", file=sys.stderr)
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

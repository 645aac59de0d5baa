"""`turnout up`: embedded Redis (when no REDIS_URL), optional simulator and demo route, the gateway
and the admin API, all in one process on one event loop. Without TURNOUT_ADMIN_TOKENS an admin
token is generated on the first start, printed once and kept in the data dir.

One `turnout up` per data dir (a lock, see `turnout.data_lock`); every port is checked before
anything starts, so a clash is one line naming the flag.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import msgspec
from aiohttp import web

from control.api.app import build_admin_app
from control.cli.client import TOKEN_FILE
from control.settings import ControlSettings
from control.settings import load_settings as load_control_settings
from gateway.app import build_app as build_gateway_app
from gateway.app import make_runner
from gateway.contract.redis_url import connect
from gateway.contract.settings import SettingsError, load
from gateway.listener import GatewayListener
from gateway.server import install_uvloop
from gateway.settings import GatewaySettings
from simulator.server import build_app as build_simulator_app
from turnout.admin_token import admin_tokens
from turnout.data_lock import DataDirInUse, DataDirLock, Holder
from turnout.demo import DEMO_ROUTE, create_demo, describe
from turnout.embedded_redis import EmbeddedRedis, RedisBinaryMissing
from turnout.ports import check_distinct, check_free

log = logging.getLogger("turnout.up")


class DemoSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # TURNOUT_SIM_PORT / --sim-port: the simulated provider of `turnout up --demo`
    sim_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8090


class Plan(msgspec.Struct, frozen=True):
    """Everything `turnout up` runs, settled before anything starts."""

    gateway: GatewaySettings
    control: ControlSettings
    sim_port: int | None  # None without --demo
    data_dir: Path  # absolute
    embedded_redis: bool  # no Redis configured: run one in the data dir


def redacted(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _cli_command() -> str:
    """How to call the CLI from any directory: `turnout` when it is on PATH, else its path."""
    if shutil.which("turnout"):
        return "turnout"
    beside = Path(sys.executable).parent / "turnout"
    return str(beside) if beside.exists() else "turnout"


def _token_lines(plan: Plan, fresh_token: str | None) -> list[str]:
    stored = plan.data_dir / TOKEN_FILE
    if os.environ.get("TURNOUT_ADMIN_TOKENS"):
        return ["Admin tokens     from TURNOUT_ADMIN_TOKENS"]
    if fresh_token is not None:
        return [
            f"Admin token      {fresh_token}",
            f"                 (shown once; kept in {stored} for the next starts and the CLI)",
        ]
    return [f"Admin token      in {stored}"]


def _cli_lines(plan: Plan) -> list[str]:
    admin_url = f"http://{plan.control.host}:{plan.control.port}"
    exports = f"export TURNOUT_ADMIN_URL={admin_url}"
    if not os.environ.get("TURNOUT_ADMIN_TOKENS"):
        exports += f' TURNOUT_ADMIN_TOKEN="$(cat {plan.data_dir / TOKEN_FILE})"'
    return [
        "Use the CLI from any directory (copy-paste into your shell):",
        f"  {exports}",
        f"  alias turnout={_cli_command()}",
    ]


def banner(plan: Plan, fresh_token: str | None, demo_state: str | None) -> str:
    settings = plan.gateway
    base = f"http://{settings.host}:{settings.port}/v1"
    lines = [
        "",
        f"Turnout gateway  {base}",
        f"Turnout admin    http://{plan.control.host}:{plan.control.port}/admin",
        f"Dashboard        http://{plan.control.host}:{plan.control.port}/ui/",
        f"Redis            {redacted(settings.redis_url or '')}",
        f"Data dir         {plan.data_dir}  (routes, snapshot, token; Ctrl-C stops everything)",
        *_token_lines(plan, fresh_token),
    ]
    if plan.sim_port is not None:
        lines.append(f"Simulator        http://127.0.0.1:{plan.sim_port}/v1")
    lines += ["", *_cli_lines(plan)]
    if demo_state is not None:
        lines += [
            "",
            f"Demo route       {DEMO_ROUTE}: {demo_state}",
            "Try it:",
            f"  curl -s {base}/chat/completions -H 'Content-Type: application/json' \\",
            f'    -d \'{{"model": "{DEMO_ROUTE}", "messages": '
            '[{"role": "user", "content": "hello"}]}\' -i',
            "",
            "  from openai import OpenAI",
            f'  client = OpenAI(base_url="{base}", api_key="unused")',
            f'  client.chat.completions.create(model="{DEMO_ROUTE}", '
            'messages=[{"role": "user", "content": "hello"}])',
            "",
            "Move traffic:",
            f"  turnout route show {DEMO_ROUTE}",
            f"  turnout weights set {DEMO_ROUTE} r1=90 r2=10 --reason 'try the concise prompt'",
            f"  turnout rollback {DEMO_ROUTE} --reason 'back to stable'",
        ]
    return "\n".join(lines)


async def _serve(plan: Plan, fresh_token: str | None) -> None:
    settings = plan.gateway
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start(app: web.Application, port: int) -> None:
        runner = make_runner(app)
        await runner.setup()
        stops.append(runner.cleanup)
        await web.TCPSite(runner, settings.host, port).start()

    try:
        demo_state: str | None = None
        if plan.sim_port is not None:
            await start(build_simulator_app(), plan.sim_port)
            redis = connect(plan.control.redis_url)
            try:
                sim_url = f"http://127.0.0.1:{plan.sim_port}/v1"
                created = await create_demo(redis, sim_url)
                log.info("demo route %s", "created" if created else "already present, kept")
                demo_state = await describe(redis)
            finally:
                await redis.aclose()
        gateway = GatewayListener(build_gateway_app(settings))
        stops.append(gateway.stop)
        await gateway.start(settings.host, settings.port)
        await start(build_admin_app(plan.control), plan.control.port)
        print(banner(plan, fresh_token, demo_state), flush=True)
        stop = asyncio.Event()
        # SIGTERM (docker stop, systemd) stops as cleanly as Ctrl-C: runners, then Redis.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
    finally:
        for stop_one in reversed(stops):
            await stop_one()


def plan_up(args: argparse.Namespace, settings: GatewaySettings) -> Plan:
    """Settings of every part, from flags and `TURNOUT_*` variables (one loader for all)."""
    data_dir = Path(settings.data_dir).resolve()
    redis_url = settings.redis_url or EmbeddedRedis(data_dir / "redis").url
    control = load_control_settings(
        {
            "host": settings.host,
            "port": args.admin_port,
            "redis_url": redis_url,
            "data_dir": str(data_dir),
        }
    )
    sim_port = load(DemoSettings, {"sim_port": args.sim_port}).sim_port if args.demo else None
    return Plan(
        gateway=msgspec.structs.replace(settings, redis_url=redis_url, data_dir=str(data_dir)),
        control=control,
        sim_port=sim_port,
        data_dir=data_dir,
        embedded_redis=not settings.redis_url,
    )


def _check_ports(plan: Plan) -> None:
    host = plan.gateway.host
    ports = [
        (plan.gateway.port, "gateway", "--port (or TURNOUT_PORT)"),
        (plan.control.port, "admin API", "--admin-port (or TURNOUT_ADMIN_PORT)"),
    ]
    if plan.sim_port is not None:
        ports.append((plan.sim_port, "demo simulator", "--sim-port (or TURNOUT_SIM_PORT)"))
    check_distinct(ports)
    for port, what, flag in ports:
        check_free(host, port, what, flag)


def run_up(args: argparse.Namespace, settings: GatewaySettings) -> int:
    plan = plan_up(args, settings)
    lock = DataDirLock(plan.data_dir)
    holder = Holder(
        pid=os.getpid(),
        host=plan.gateway.host,
        port=plan.gateway.port,
        admin_port=plan.control.port,
        sim_port=plan.sim_port,
    )
    try:
        lock.acquire(holder)
    except DataDirInUse as error:
        print(f"turnout: {error}", file=sys.stderr)
        return 1
    try:
        return _run_locked(plan)
    finally:
        lock.release()


def _run_locked(plan: Plan) -> int:
    try:
        _check_ports(plan)
    except SettingsError as error:
        print(f"turnout: {error}", file=sys.stderr)
        return 1
    tokens, fresh_token = admin_tokens(str(plan.data_dir))
    plan = msgspec.structs.replace(
        plan, control=msgspec.structs.replace(plan.control, admin_tokens=tokens)
    )
    embedded: EmbeddedRedis | None = None
    if plan.embedded_redis:
        # Absolute: redis-server changes into --dir before it opens its log file.
        embedded = EmbeddedRedis(plan.data_dir / "redis")
        try:
            embedded.start()
        except (RedisBinaryMissing, RuntimeError, TimeoutError) as error:
            embedded.stop()  # a server that started but never answered must not linger
            print(f"turnout: embedded Redis: {error}", file=sys.stderr)
            return 1
        log.info("embedded redis-server started on %s", embedded.url)
    install_uvloop()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(plan, fresh_token))
    finally:
        if embedded is not None:
            embedded.stop()
    return 0

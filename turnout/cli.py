"""The `turnout` console script: process commands (gateway, control, up, simulator) and the
operator verbs that call the admin API (routes, weights set, rollback, apply, lint, …)."""

import argparse
import logging
import os
import sys
from collections.abc import Callable

from gateway.contract.settings import SettingsError
from gateway.settings import GatewaySettings, load_settings
from turnout.ports import check_free

Command = Callable[[argparse.Namespace], int]


def _env(name: str) -> str | None:
    return os.environ.get(f"TURNOUT_{name}")


def add_process_flags(parser: argparse.ArgumentParser) -> None:
    """Flags default to None: the settings loader applies `TURNOUT_*` variables, then defaults,
    in one place for every process."""
    parser.add_argument("--host", default=None, help="default TURNOUT_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default TURNOUT_PORT or 8080")
    parser.add_argument(
        "--redis-url", default=None, help="default TURNOUT_REDIS_URL, else REDIS_URL"
    )
    parser.add_argument("--data-dir", default=None, help="default TURNOUT_DATA_DIR or ./data")
    parser.add_argument("--log-level", default=_env("LOG_LEVEL") or "info")


def gateway_settings(args: argparse.Namespace, port: int | None = None) -> GatewaySettings:
    """Flags over `TURNOUT_*` variables (see `gateway.settings.load_settings`)."""
    return load_settings(
        {
            "host": args.host,
            "port": args.port if port is None else port,
            "redis_url": args.redis_url,
            "data_dir": args.data_dir,
            "workers": getattr(args, "workers", None),
        }
    )


def cmd_gateway(args: argparse.Namespace) -> int:
    from gateway.server import serve

    settings = gateway_settings(args)
    check_free(settings.host, settings.port, "gateway", "--port (or TURNOUT_PORT)")
    serve(settings)
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    from control.server import serve
    from control.settings import load_settings
    from gateway.server import install_uvloop

    flags = {"host": args.host, "port": args.port, "redis_url": args.redis_url}
    settings = load_settings({**flags, "data_dir": args.data_dir})
    check_free(settings.host, settings.port, "admin API", "--port (or TURNOUT_ADMIN_PORT)")
    install_uvloop()
    serve(settings)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from turnout.up import run_up

    return run_up(args, gateway_settings(args))


def cmd_simulator(args: argparse.Namespace) -> int:
    from aiohttp import web

    from gateway.server import install_uvloop
    from simulator.server import build_app

    check_free(args.host, args.port, "simulator", "--port")
    install_uvloop()
    web.run_app(build_app(), host=args.host, port=args.port, access_log=None, print=None)
    return 0


def build_parser(operator_verbs: bool = True) -> argparse.ArgumentParser:
    """Every command; without `operator_verbs`, only the process commands (gateway, control,
    up, simulator)."""
    parser = argparse.ArgumentParser(prog="turnout", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gateway = commands.add_parser("gateway", help="run the data plane (port 8080)")
    add_process_flags(gateway)
    gateway.add_argument("--workers", type=int, default=None, help="default TURNOUT_WORKERS or 1")
    gateway.set_defaults(run=cmd_gateway)

    control = commands.add_parser("control", help="run the control plane: admin API (port 8081)")
    control.add_argument("--host", default=None, help="default TURNOUT_HOST or 127.0.0.1")
    control.add_argument(
        "--port", type=int, default=None, help="default TURNOUT_ADMIN_PORT or 8081"
    )
    control.add_argument("--redis-url", default=None, help="default REDIS_URL")
    control.add_argument("--data-dir", default=None)
    control.add_argument("--log-level", default=_env("LOG_LEVEL") or "info")
    control.set_defaults(run=cmd_control)

    up = commands.add_parser("up", help="gateway + control plane in one process")
    add_process_flags(up)
    up.add_argument(
        "--admin-port", type=int, default=None, help="default TURNOUT_ADMIN_PORT or 8081"
    )
    up.add_argument("--demo", action="store_true", help="simulated provider and a demo route")
    up.add_argument(
        "--sim-port",
        type=int,
        default=None,
        help="the demo's simulated provider; default TURNOUT_SIM_PORT or 8090",
    )
    up.set_defaults(run=cmd_up)

    simulator = commands.add_parser("simulator", help="run the simulated OpenAI-style provider")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8090)
    simulator.set_defaults(run=cmd_simulator)

    if operator_verbs:
        # Imported here: the verbs' modules pull in the control plane and its libraries (numpy,
        # jsonschema, rich), which a gateway process never uses.
        from control.cli.parser import add_operator_verbs
        from loadtest.rehearsal.cli import add_command as add_loadtest

        add_operator_verbs(commands)
        add_loadtest(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `turnout gateway` parses without the operator verbs, so the data plane's processes (its
    # workers are forked from this one) do not carry the control plane's imports: ~24 MB of RSS
    # in every worker.
    args = build_parser(operator_verbs=argv[:1] != ["gateway"]).parse_args(argv)
    level = getattr(args, "log_level", "info").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except SettingsError as error:
        print(f"turnout: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

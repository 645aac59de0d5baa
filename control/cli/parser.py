"""argparse wiring of the operator verbs (`turnout routes`, `weights set`, `apply`, …)."""

from __future__ import annotations

import argparse
import os

from control.cli import backup, verbs
from control.cli import eval as cli_eval
from control.cli import rollout as cli_rollout
from control.cli import stats as cli_stats
from control.cli.client import DEFAULT_URL


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--admin-url",
        default=os.environ.get("TURNOUT_ADMIN_URL") or DEFAULT_URL,
        help=f"admin API base URL (TURNOUT_ADMIN_URL, default {DEFAULT_URL})",
    )
    common.add_argument(
        "--token",
        default=None,
        help="admin bearer token (else TURNOUT_ADMIN_TOKEN, else <data-dir>/admin-token)",
    )
    common.add_argument(
        "--data-dir",
        default=os.environ.get("TURNOUT_DATA_DIR") or "./data",
        help="where `turnout up` keeps its admin-token (TURNOUT_DATA_DIR, default ./data)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    return common


def _reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", "-m", required=True, help="why (recorded in the audit trail)")


def add_operator_verbs(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = _common()

    def verb(name: str, help_: str, run: verbs.Verb) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_, parents=[common])
        parser.set_defaults(run=verbs.runner(run))
        return parser

    verb("routes", "list routes", verbs.routes)

    route = commands.add_parser("route", help="one route").add_subparsers(
        dest="verb", required=True
    )
    show = route.add_parser("show", help="a route with its releases", parents=[common])
    show.add_argument("route")
    show.set_defaults(run=verbs.runner(verbs.route_show))
    backup.add_verbs(commands, route, common, verbs.runner)

    release = commands.add_parser("release", help="releases").add_subparsers(
        dest="verb", required=True
    )
    create = release.add_parser("create", help="a new immutable release (at 0%%)", parents=[common])
    create.add_argument("route")
    create.add_argument("--model", required=True, help="model version, name@N")
    create.add_argument("--prompt", help="prompt version, name@N")
    create.add_argument("--param", action="append", default=[], metavar="KEY=JSON")
    create.add_argument("--artifact", action="append", default=[], metavar="KEY=VALUE")
    create.add_argument("--note", default="")
    create.set_defaults(run=verbs.runner(verbs.release_create))
    cli_eval.add_verbs(commands, common, release, verbs.runner)

    weights = commands.add_parser("weights", help="route weights").add_subparsers(
        dest="verb", required=True
    )
    set_ = weights.add_parser(
        "set", help="flip weights (percent, summing to 100)", parents=[common]
    )
    set_.add_argument("route")
    set_.add_argument("weights", nargs="+", metavar="rN=PERCENT")
    set_.add_argument("--expected-revision", type=int, help="default: the revision read now")
    _reason(set_)
    set_.set_defaults(run=verbs.runner(verbs.weights_set))

    promote = verb("promote", "make a release stable at 100%%", verbs.promote)
    promote.add_argument("route")
    promote.add_argument("release")
    promote.add_argument("--expected-revision", type=int)
    _reason(promote)

    rollback = verb("rollback", "all traffic back to stable (or --to) in one step", verbs.rollback)
    rollback.add_argument("route")
    rollback.add_argument("--to", help="roll back to this release instead (it becomes stable)")
    _reason(rollback)

    pin_help = "mark a route pinned (audited; nothing acts on the mark yet)"
    for name, help_ in (("pin", pin_help), ("unpin", "clear the pinned mark")):
        pinning = verb(name, help_, verbs.pin)
        pinning.add_argument("route")
        pinning.set_defaults(verb=name)
        _reason(pinning)

    resolve = verb("resolve", "which release a sticky key gets now", verbs.resolve)
    resolve.add_argument("route")
    resolve.add_argument("key")

    stats = verb("stats", "per-release quality over a window", cli_stats.stats)
    stats.add_argument("route")
    stats.add_argument("--window", default="15m", help="1m to 7d (default 15m)")

    cli_rollout.add_parser(commands, common, verbs.runner)

    audit = verb("audit", "the audit trail", verbs.audit)
    audit.add_argument("--route")
    audit.add_argument("--since", help="15m, 2h, 7d or an ISO time")
    audit.add_argument("--limit", type=int, default=50)

    apply = verb("apply", "make the registry match a registry.toml", verbs.apply_file)
    apply.add_argument("-f", "--file", required=True)

    lint = commands.add_parser("lint", help="check a registry.toml offline (for CI)")
    lint.add_argument("-f", "--file", required=True)
    lint.set_defaults(run=verbs.lint_file)

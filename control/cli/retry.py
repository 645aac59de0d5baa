"""`turnout retry set|off ROUTE`: a route's retries, retry budget and canary fallback, through
the admin API (an audited route change)."""

import argparse
from typing import Any

from control.cli import output
from control.cli.client import AdminClient


def describe(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "retries off"
    return (
        f"retries {policy['max_retries']} within {output.percent(policy['budget_percent'])}% "
        f"budget, Retry-After up to {policy['retry_after_cap_s']:g} s, backoff "
        f"{policy['backoff_ms']:g} ms, fallback {'on' if policy['fallback'] else 'off'}"
    )


def retry(client: AdminClient, args: argparse.Namespace) -> int:
    policy = None
    if args.verb == "set":
        policy = {
            "max_retries": args.retries,
            "budget_percent": args.budget,
            "retry_after_cap_s": args.retry_after_cap,
            "backoff_ms": args.backoff_ms,
            "fallback": args.fallback,
        }
    body: dict[str, Any] = {"retry": policy, "reason": args.reason}
    if args.expected_revision is not None:
        body["expected_revision"] = args.expected_revision
    route = client.call("PUT", f"/admin/routes/{args.route}/retry", body)
    if args.json:
        output.emit_json(route)
    else:
        output.emit(f"{route['name']}: {describe(route['retry'])}; revision {route['revision']}")
    return 0


def add_parsers(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    common: argparse.ArgumentParser,
    run: Any,
) -> None:
    verbs = commands.add_parser("retry", help="a route's retries and canary fallback")
    choices = verbs.add_subparsers(dest="verb", required=True)
    set_ = choices.add_parser(
        "set", help="retry connect errors, 429 and 5xx under a budget", parents=[common]
    )
    set_.add_argument("--retries", type=int, default=2, help="extra attempts per call (0-5)")
    set_.add_argument(
        "--budget", type=float, default=10.0, help="retries at most this %% of calls (10 s)"
    )
    set_.add_argument(
        "--retry-after-cap", type=float, default=5.0, help="longest Retry-After waited for, s"
    )
    set_.add_argument("--backoff-ms", type=float, default=100.0, help="first backoff, doubling")
    set_.add_argument(
        "--fallback", action="store_true", help="answer a failed canary call from stable"
    )
    off = choices.add_parser("off", help="no retries, no fallback", parents=[common])
    for parser in (set_, off):
        parser.add_argument("route")
        parser.add_argument("--expected-revision", type=int)
        parser.add_argument("--reason", "-m", required=True, help="why (recorded in the audit)")
        parser.set_defaults(run=run)

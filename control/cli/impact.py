"""Operator verbs for blast radius and postmortems: `turnout impact ROUTE rN` (figures next to
stable's, or the affected user keys as CSV/JSONL with --users), `turnout record-users ROUTE
--on|--off` and `turnout timeline ROUTE --since 2h [--format md|json]`."""

import argparse
import csv
import io
from typing import Any

import msgspec

from control.cli import output
from control.cli.client import AdminClient


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _row(label: str, figures: Any) -> list[object]:
    return [
        label,
        figures["calls"],
        figures["distinct_users"],
        figures["errors"],
        _rate(figures["error_rate"]),
        figures["thumbs_down"],
        _rate(figures["thumbs_down_rate"]),
        f"{figures['cost_usd']:.6f}",
    ]


def render_users(users: list[Any], fmt: str) -> str:
    if fmt == "jsonl":
        return "\n".join(msgspec.json.encode(u).decode() for u in users)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "last_seen"])
    for user in users:
        writer.writerow([user["key"], user["last_seen"]])
    return buffer.getvalue().rstrip("\n")


def impact(client: AdminClient, args: argparse.Namespace) -> int:
    base = f"/admin/routes/{args.route}/releases/{args.release}"
    if args.users:
        users = client.call("GET", f"{base}/users", query={"since": args.since})
        output.emit(render_users(users, args.format))
        return 0
    found = client.call("GET", f"{base}/impact", query={"since": args.since})
    if args.json:
        output.emit_json(found)
        return 0
    head = (
        f"{found['route']} {found['release']}: {found['minutes']} minute(s) with calls "
        f"since {found['since'][:16].replace('T', ' ')} UTC"
    )
    rows = [_row(found["release"], found["release_figures"])]
    if found["stable_figures"] is not None:
        rows.append(_row(f"{found['stable']} (stable, same minutes)", found["stable_figures"]))
    headers = ["RELEASE", "CALLS", "USERS", "ERRORS", "ERR%", "DOWN", "DOWN%", "COST USD"]
    note = "users: distinct sticky keys (HyperLogLog, ~0.8% error)"
    if found["users_recorded"]:
        note += "; export them with --users"
    output.emit(f"{head}\n{output.table(headers, rows)}\n{note}")
    return 0


def record_users(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"enabled": args.on, "retention": args.retention, "reason": args.reason}
    route = client.call("PUT", f"/admin/routes/{args.route}/record-users", body)
    if args.json:
        output.emit_json(route)
    elif args.on:
        output.emit(f"{args.route}: recording affected user keys for {args.retention}")
    else:
        output.emit(f"{args.route}: not recording user keys; recorded keys deleted")
    return 0


def timeline(client: AdminClient, args: argparse.Namespace) -> int:
    found = client.call("GET", f"/admin/routes/{args.route}/timeline", query={"since": args.since})
    if args.json or args.format == "json":
        output.emit_json(found["timeline"])
    else:
        output.emit(found["markdown"])
    return 0

"""Operator verbs for blast radius and postmortems: `turnout impact ROUTE rN` (figures next to
stable's, or the affected user keys as CSV/JSONL with --users), `turnout record-users ROUTE
--on|--off` and `turnout timeline ROUTE --since 2h [--format md|json]`. Answers are decoded
as the admin API's own types."""

import argparse
import csv
import io

import msgspec

from control.cli import output
from control.cli.client import AdminClient
from control.cli.windows import minute
from control.impact.compute import Figures, Impact
from control.impact.users import AffectedUser
from control.routes.views import RouteOut
from control.timeline.model import TimelineOut


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _row(label: str, figures: Figures) -> list[object]:
    return [
        label,
        figures.calls,
        figures.distinct_users,
        figures.errors,
        _rate(figures.error_rate),
        figures.thumbs_down,
        _rate(figures.thumbs_down_rate),
        f"{figures.cost_usd:.6f}",
    ]


def render_users(users: list[AffectedUser], fmt: str) -> str:
    if fmt == "jsonl":
        return "\n".join(msgspec.json.encode(u).decode() for u in users)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["key", "last_seen"])
    for user in users:  # the time as the API writes it (RFC 3339)
        writer.writerow([user.key, msgspec.json.encode(user.last_seen).decode().strip('"')])
    return buffer.getvalue().rstrip("\n")


def impact(client: AdminClient, args: argparse.Namespace) -> int:
    base = f"/admin/routes/{args.route}/releases/{args.release}"
    if args.users:
        query: dict[str, str | int | None] = {"since": args.since}
        users = client.call("GET", f"{base}/users", query=query, reply=list[AffectedUser])
        output.emit(render_users(users, args.format))
        return 0
    found = client.call("GET", f"{base}/impact", query={"since": args.since}, reply=Impact)
    if args.json:
        output.emit_json(found)
        return 0
    head = (
        f"{found.route} {found.release}: {found.minutes} minute(s) with calls "
        f"since {minute(found.since)} UTC"
    )
    rows = [_row(found.release, found.release_figures)]
    if found.stable_figures is not None:
        rows.append(_row(f"{found.stable} (stable, same minutes)", found.stable_figures))
    headers = ["RELEASE", "CALLS", "USERS", "ERRORS", "ERR%", "DOWN", "DOWN%", "COST USD"]
    note = "users: distinct sticky keys (HyperLogLog, ~0.8% error)"
    if found.users_recorded:
        note += "; export them with --users"
    output.emit(f"{head}\n{output.table(headers, rows)}\n{note}")
    return 0


def record_users(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"enabled": args.on, "retention": args.retention, "reason": args.reason}
    path = f"/admin/routes/{args.route}/record-users"
    route = client.call("PUT", path, body, reply=RouteOut)
    if args.json:
        output.emit_json(route)
    elif args.on:
        output.emit(f"{args.route}: recording affected user keys for {args.retention}")
    else:
        output.emit(f"{args.route}: not recording user keys; recorded keys deleted")
    return 0


def timeline(client: AdminClient, args: argparse.Namespace) -> int:
    path, query = f"/admin/routes/{args.route}/timeline", {"since": args.since}
    found = client.call("GET", path, query=query, reply=TimelineOut)
    if args.json or args.format == "json":
        output.emit_json(found.timeline)
    else:
        output.emit(found.markdown)
    return 0

"""Operator verbs for release operations: freeze windows, the kill switch, needs-review items.

Each calls the admin API, decodes the answer as the API's own type and prints an aligned table
or one line (JSON with --json).
"""

import argparse
from datetime import UTC, datetime
from typing import Any

from control.cli import output
from control.cli.client import AdminClient
from control.reviews.model import Review
from control.windows.model import Window, WindowOut


def minute(moment: datetime | None) -> str:
    """A time to the minute in UTC ("" for none)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def window_span(window: Window) -> str:
    """One line for a window: its scope, kind and when it is open."""
    scope = window.route or "all routes"
    rule = window.recurring
    if rule is not None:
        when = f"{','.join(rule.days)} {rule.start}-{rule.end} {rule.timezone}"
    else:
        when = f"{minute(window.start)} -> {minute(window.end) or 'until deleted'} UTC"
    return f"{window.kind} {scope}: {when}"


def freeze(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"reason": args.reason, "route": args.route, "end": args.until, "name": args.name}
    given = {k: v for k, v in body.items() if v is not None}
    answer = client.call("PUT", "/admin/freeze", given, reply=WindowOut)
    if args.json:
        output.emit_json(answer)
    else:
        output.emit(f"window {args.name}: {window_span(answer.window)} ({args.reason})")
    return 0


def windows_list(client: AdminClient, args: argparse.Namespace) -> int:
    query: dict[str, str | int | None] = {"route": args.route}
    found = client.call("GET", "/admin/windows", query=query, reply=list[WindowOut])
    if args.json:
        output.emit_json(found)
        return 0
    rows = [
        [
            w.window.name,
            w.window.kind,
            w.window.route or "all",
            window_span(w.window).split(": ", 1)[1],
            "OPEN" if w.open else "closed",
            minute(w.until),
            w.window.reason,
        ]
        for w in found
    ]
    headers = ["NAME", "KIND", "ROUTE", "WHEN", "NOW", "UNTIL (UTC)", "REASON"]
    output.emit(output.table(headers, rows) if rows else "no windows")
    return 0


def windows_set(client: AdminClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"kind": args.kind, "route": args.route, "reason": args.reason}
    if args.days or args.timezone:
        if not (args.days and args.timezone and args.hours):
            raise SystemExit("turnout: a recurring window needs --days, --hours and --timezone")
        start, _, end = args.hours.partition("-")
        body["recurring"] = {
            "timezone": args.timezone,
            "days": args.days.split(","),
            "start": start,
            "end": end,
        }
    else:
        body.update({"start": args.start, "end": args.end})
    body = {k: v for k, v in body.items() if v is not None}
    answer = client.call("PUT", f"/admin/windows/{args.name}", body, reply=WindowOut)
    if args.json:
        output.emit_json(answer)
    else:
        state = "open now" if answer.open else "closed now"
        output.emit(f"window {args.name}: {window_span(answer.window)} ({state})")
    return 0


def windows_delete(client: AdminClient, args: argparse.Namespace) -> int:
    path, query = f"/admin/windows/{args.name}", {"reason": args.reason}
    gone = client.call("DELETE", path, query=query, reply=Window)
    if args.json:
        output.emit_json(gone)
    else:
        output.emit(f"window {args.name}: deleted ({window_span(gone)})")
    return 0


def reviews(client: AdminClient, args: argparse.Namespace) -> int:
    status = "all" if args.all else "open"
    path = f"/admin/routes/{args.route}/reviews"
    found = client.call("GET", path, query={"status": status}, reply=list[Review])
    if args.json:
        output.emit_json(found)
        return 0
    rows = [[r.id, r.status, r.action, r.actor, r.reason, r.ack_by, r.ack_note] for r in found]
    headers = ["ID", "STATUS", "CHANGE", "BY", "REASON", "ACK BY", "NOTE"]
    output.emit(output.table(headers, rows) if rows else f"no {status} review items")
    return 0


def review_ack(client: AdminClient, args: argparse.Namespace) -> int:
    path = f"/admin/routes/{args.route}/reviews/{args.id}/ack"
    acked = client.call("POST", path, {"note": args.note}, reply=Review)
    if args.json:
        output.emit_json(acked)
    else:
        output.emit(
            f"review {acked.id} ({acked.action} by {acked.actor}): acknowledged by {acked.ack_by}"
        )
    return 0

"""Operator verbs for release operations: freeze windows, the kill switch, needs-review items.

Each calls the admin API and prints an aligned table or one line (JSON with --json).
"""

import argparse
from typing import Any

from control.cli import output
from control.cli.client import AdminClient


def window_span(window: Any) -> str:
    """One line for a window: its scope, kind and when it is open."""
    scope = window["route"] or "all routes"
    rule = window.get("recurring")
    if rule:
        when = f"{','.join(rule['days'])} {rule['start']}-{rule['end']} {rule['timezone']}"
    else:
        start = (window.get("start") or "")[:16].replace("T", " ")
        end = (window.get("end") or "")[:16].replace("T", " ") or "until deleted"
        when = f"{start} -> {end} UTC"
    return f"{window['kind']} {scope}: {when}"


def freeze(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"reason": args.reason, "route": args.route, "end": args.until, "name": args.name}
    answer = client.call("PUT", "/admin/freeze", {k: v for k, v in body.items() if v is not None})
    if args.json:
        output.emit_json(answer)
    else:
        output.emit(f"window {args.name}: {window_span(answer['window'])} ({args.reason})")
    return 0


def windows_list(client: AdminClient, args: argparse.Namespace) -> int:
    found = client.call("GET", "/admin/windows", query={"route": args.route})
    if args.json:
        output.emit_json(found)
        return 0
    rows = [
        [
            w["window"]["name"],
            w["window"]["kind"],
            w["window"]["route"] or "all",
            window_span(w["window"]).split(": ", 1)[1],
            "OPEN" if w["open"] else "closed",
            (w["until"] or "")[:16].replace("T", " "),
            w["window"]["reason"],
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
    answer = client.call("PUT", f"/admin/windows/{args.name}", body)
    if args.json:
        output.emit_json(answer)
    else:
        state = "open now" if answer["open"] else "closed now"
        output.emit(f"window {args.name}: {window_span(answer['window'])} ({state})")
    return 0


def windows_delete(client: AdminClient, args: argparse.Namespace) -> int:
    answer = client.call("DELETE", f"/admin/windows/{args.name}", query={"reason": args.reason})
    output.emit_json(answer) if args.json else output.emit(f"window {args.name}: deleted")
    return 0


def reviews(client: AdminClient, args: argparse.Namespace) -> int:
    status = "all" if args.all else "open"
    found = client.call("GET", f"/admin/routes/{args.route}/reviews", query={"status": status})
    if args.json:
        output.emit_json(found)
        return 0
    rows = [
        [r["id"], r["status"], r["action"], r["actor"], r["reason"], r["ack_by"], r["ack_note"]]
        for r in found
    ]
    headers = ["ID", "STATUS", "CHANGE", "BY", "REASON", "ACK BY", "NOTE"]
    output.emit(output.table(headers, rows) if rows else f"no {status} review items")
    return 0


def review_ack(client: AdminClient, args: argparse.Namespace) -> int:
    path = f"/admin/routes/{args.route}/reviews/{args.id}/ack"
    answer = client.call("POST", path, {"note": args.note})
    output.emit_json(answer) if args.json else output.emit(f"review {args.id}: acknowledged")
    return 0

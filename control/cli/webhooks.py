"""Operator verbs for webhooks: list, set, delete, the delivery log, redelivery by id."""

import argparse
from typing import Any

from control.cli import output
from control.cli.client import AdminClient


def webhooks_list(client: AdminClient, args: argparse.Namespace) -> int:
    found = client.call("GET", "/admin/webhooks")
    if args.json:
        output.emit_json(found)
        return 0
    rows = [
        [w["name"], w["route"] or "all", ",".join(w["events"]), w["format"], w["url"]]
        for w in found
    ]
    headers = ["NAME", "ROUTE", "EVENTS", "FORMAT", "URL"]
    output.emit(output.table(headers, rows) if rows else "no webhooks")
    return 0


def webhooks_set(client: AdminClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "url": args.url,
        "secret_env": args.secret_env,
        "events": args.events.split(","),
        "format": args.format,
        "max_attempts": args.max_attempts,
    }
    if args.route:
        body["route"] = args.route
    answer = client.call("PUT", f"/admin/webhooks/{args.name}", body)
    output.emit_json(answer) if args.json else output.emit(f"webhook {args.name}: saved")
    return 0


def webhooks_delete(client: AdminClient, args: argparse.Namespace) -> int:
    client.call("DELETE", f"/admin/webhooks/{args.name}")
    output.emit(f"webhook {args.name}: deleted")
    return 0


def deliveries(client: AdminClient, args: argparse.Namespace) -> int:
    query = {"webhook": args.webhook, "status": args.status, "limit": args.limit}
    found = client.call("GET", "/admin/webhook-deliveries", query=query)
    if args.json:
        output.emit_json(found)
        return 0
    rows = [
        [
            d["id"],
            d["event"]["type"],
            d["status"],
            d["attempts"],
            d["last_status"],
            d["last_error"],
        ]
        for d in found
    ]
    headers = ["DELIVERY", "EVENT", "STATUS", "ATTEMPTS", "HTTP", "ERROR"]
    output.emit(output.table(headers, rows) if rows else "no deliveries")
    return 0


def redeliver(client: AdminClient, args: argparse.Namespace) -> int:
    answer = client.call("POST", f"/admin/webhook-deliveries/{args.id}/redeliver")
    output.emit_json(answer) if args.json else output.emit(f"delivery {args.id}: queued again")
    return 0

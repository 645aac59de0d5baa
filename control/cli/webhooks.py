"""Operator verbs for webhooks: list, set, delete, the delivery log, redelivery by id. Answers
are decoded as the admin API's own types."""

import argparse
from typing import Any

from control.cli import output
from control.cli.client import AdminClient
from control.notify.model import Delivery, Webhook, WebhookOut


def _hook_line(hook: Webhook) -> str:
    events = ",".join(hook.events)
    scope = f"route {hook.route}" if hook.route else "all routes"
    return (
        f"webhook {hook.name}: {events} on {scope} -> {hook.url} ({hook.format}, signed with "
        f"${hook.secret_env}, up to {hook.max_attempts} attempts)"
    )


def webhooks_list(client: AdminClient, args: argparse.Namespace) -> int:
    found = client.call("GET", "/admin/webhooks", reply=list[Webhook])
    if args.json:
        output.emit_json(found)
        return 0
    rows = [[w.name, w.route or "all", ",".join(w.events), w.format, w.url] for w in found]
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
    answer = client.call("PUT", f"/admin/webhooks/{args.name}", body, reply=WebhookOut)
    if args.json:
        output.emit_json(answer)
    else:
        output.emit(f"{_hook_line(answer.webhook)}: {'created' if answer.created else 'replaced'}")
    return 0


def webhooks_delete(client: AdminClient, args: argparse.Namespace) -> int:
    left = client.call("DELETE", f"/admin/webhooks/{args.name}", reply=list[Webhook])
    if args.json:
        output.emit_json(left)
    else:
        output.emit(f"webhook {args.name}: deleted ({len(left)} left)")
    return 0


def deliveries(client: AdminClient, args: argparse.Namespace) -> int:
    query = {"webhook": args.webhook, "status": args.status, "limit": args.limit}
    found = client.call("GET", "/admin/webhook-deliveries", query=query, reply=list[Delivery])
    if args.json:
        output.emit_json(found)
        return 0
    rows = [[d.id, d.event.type, d.status, d.attempts, d.last_status, d.last_error] for d in found]
    headers = ["DELIVERY", "EVENT", "STATUS", "ATTEMPTS", "HTTP", "ERROR"]
    output.emit(output.table(headers, rows) if rows else "no deliveries")
    return 0


def redeliver(client: AdminClient, args: argparse.Namespace) -> int:
    path = f"/admin/webhook-deliveries/{args.id}/redeliver"
    again = client.call("POST", path, reply=Delivery)
    if args.json:
        output.emit_json(again)
    else:
        output.emit(f"delivery {again.id} ({again.event.type}): queued again, {again.status}")
    return 0

"""Operator verbs for route groups: `turnout group set|show|change`."""

import argparse
from typing import Any

from control.cli import output
from control.cli.client import AdminClient


def group_set(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"routes": args.routes.split(","), "reason": args.reason}
    found = client.call("PUT", f"/admin/groups/{args.group}", body)
    output.emit_json(found) if args.json else output.emit(_summary(found))
    return 0


def group_show(client: AdminClient, args: argparse.Namespace) -> int:
    found = client.call("GET", f"/admin/groups/{args.group}")
    output.emit_json(found) if args.json else output.emit(_summary(found))
    return 0


def group_change(client: AdminClient, args: argparse.Namespace) -> int:
    releases = dict(item.partition("=")[::2] for item in args.release)
    body: dict[str, Any] = {"action": args.action, "releases": releases, "reason": args.reason}
    if args.percent is not None:
        body["percent"] = args.percent
    if args.emergency:
        body["emergency"] = True
    done = client.call("POST", f"/admin/groups/{args.group}/changes", body)
    if args.json:
        output.emit_json(done)
    else:
        revisions = " ".join(f"{r}@{n}" for r, n in sorted(done["revisions"].items()))
        output.emit(f"change set {done['changeset']}: {revisions}")
    return 0


def _summary(found: Any) -> str:
    rows = [
        [r["name"], r["revision"], r["stable"], output.weights(r["weights"], skip_zero=True)]
        for r in found["routes"]
    ]
    return f"group {found['group']}\n" + output.table(["ROUTE", "REV", "STABLE", "WEIGHTS%"], rows)

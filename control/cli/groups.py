"""Operator verbs for route groups: `turnout group set|show|change`.

Each decodes the admin API's answer as its own type (`GroupOut`, `ChangeSetOut`) and prints
aligned lines (JSON with --json).
"""

import argparse
from typing import Any

from control.cli import output
from control.cli.client import AdminClient
from control.groups.changes import ChangeSetOut, GroupOut


def group_set(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"routes": args.routes.split(","), "reason": args.reason}
    found = client.call("PUT", f"/admin/groups/{args.group}", body, reply=GroupOut)
    output.emit_json(found) if args.json else output.emit(summary(found))
    return 0


def group_show(client: AdminClient, args: argparse.Namespace) -> int:
    found = client.call("GET", f"/admin/groups/{args.group}", reply=GroupOut)
    output.emit_json(found) if args.json else output.emit(summary(found))
    return 0


def group_change(client: AdminClient, args: argparse.Namespace) -> int:
    releases = dict(item.partition("=")[::2] for item in args.release)
    body: dict[str, Any] = {"action": args.action, "releases": releases, "reason": args.reason}
    if args.percent is not None:
        body["percent"] = args.percent
    if args.emergency:
        body["emergency"] = True
    path = f"/admin/groups/{args.group}/changes"
    done = client.call("POST", path, body, reply=ChangeSetOut)
    if args.json:
        output.emit_json(done)
        return 0
    revisions = " ".join(f"{r}@{n}" for r, n in sorted(done.revisions.items()))
    line = f"change set {done.changeset} ({args.action}): {revisions}"
    if args.emergency:
        line += "\n  emergency: a needs-review item opened on every route (turnout reviews ROUTE)"
    output.emit(line)
    return 0


def summary(found: GroupOut) -> str:
    rows = [
        [r.name, r.revision, r.stable, output.weights(r.weights, skip_zero=True)]
        for r in found.routes
    ]
    head = f"group {found.group}: {len(found.routes)} route(s)"
    return head + "\n" + output.table(["ROUTE", "REV", "STABLE", "WEIGHTS%"], rows)

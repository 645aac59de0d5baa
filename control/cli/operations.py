"""argparse wiring of the release-operations verbs: freeze, windows, kill, unkill, reviews."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from control.cli import group_rollout, verbs
from control.cli import groups as grouping
from control.cli import impact as blast
from control.cli import webhooks as hooks
from control.cli import windows as ops

VerbFactory = Callable[[str, str, verbs.Verb], argparse.ArgumentParser]


def _reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", "-m", required=True, help="why (recorded in the audit trail)")


def add_operations_verbs(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    verb: VerbFactory,
) -> None:
    freeze = verb("freeze", "freeze now: promotions and rollout steps are refused", ops.freeze)
    freeze.add_argument("--route", help="only this route (default: every route)")
    freeze.add_argument("--until", help="ISO time it ends (default: until deleted)")
    freeze.add_argument("--name", default="freeze", help="the window's name (default freeze)")
    _reason(freeze)

    windows = commands.add_parser("windows", help="freeze and release windows").add_subparsers(
        dest="verb", required=True
    )

    def sub(name: str, help_: str, run: verbs.Verb) -> argparse.ArgumentParser:
        parser = windows.add_parser(name, help=help_, parents=[common])
        parser.set_defaults(run=verbs.runner(run))
        return parser

    listing = sub("list", "windows, and which are open now", ops.windows_list)
    listing.add_argument("--route")
    put = sub("set", "create or replace a window", ops.windows_set)
    put.add_argument("name")
    put.add_argument("--kind", choices=["freeze", "release"], default="freeze")
    put.add_argument("--route", help="only this route (default: every route)")
    put.add_argument("--start", help="one-off: ISO time (default now)")
    put.add_argument("--end", help="one-off: ISO time (default: until deleted)")
    put.add_argument("--days", help="recurring: mon,tue,… (days the range starts on)")
    put.add_argument("--hours", help="recurring: HH:MM-HH:MM local time (may pass midnight)")
    put.add_argument("--timezone", help="recurring: IANA zone, e.g. Europe/Berlin")
    _reason(put)
    delete = sub("delete", "delete a window (ends a freeze)", ops.windows_delete)
    delete.add_argument("name")
    _reason(delete)

    kill = verb("kill", "kill switch: one release for every call of the route", verbs.kill)
    kill.add_argument("route")
    kill.add_argument("release")
    _reason(kill)
    unkill = verb("unkill", "lift the kill switch", verbs.unkill)
    unkill.add_argument("route")
    _reason(unkill)

    reviews = verb("reviews", "needs-review items of a route", ops.reviews)
    reviews.add_argument("route")
    reviews.add_argument("--all", action="store_true", help="acknowledged ones too")
    review = commands.add_parser("review", help="needs-review items").add_subparsers(
        dest="verb", required=True
    )
    ack = review.add_parser("ack", help="acknowledge an item with a note", parents=[common])
    ack.add_argument("route")
    ack.add_argument("id")
    ack.add_argument("--note", required=True, help="what was checked")
    ack.set_defaults(run=verbs.runner(ops.review_ack))

    impact = verb("impact", "calls, users, errors and thumbs-down a release reached", blast.impact)
    impact.add_argument("route")
    impact.add_argument("release")
    impact.add_argument("--since", default="2h", help="90m, 2h, 2d or an ISO time (default 2h)")
    impact.add_argument("--users", action="store_true", help="export the affected user keys")
    impact.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    recording = verb(
        "record-users", "opt in/out of recording affected user keys", blast.record_users
    )
    recording.add_argument("route")
    switch = recording.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", action="store_true", help="record (personal data)")
    switch.add_argument("--off", action="store_true", help="stop and delete recorded keys")
    recording.add_argument("--retention", default="30d", help="how long keys are kept")
    _reason(recording)

    webhooks = commands.add_parser("webhooks", help="webhooks and their deliveries")
    hook_verbs = webhooks.add_subparsers(dest="verb", required=True)

    def hook(name: str, help_: str, run: verbs.Verb) -> argparse.ArgumentParser:
        parser = hook_verbs.add_parser(name, help=help_, parents=[common])
        parser.set_defaults(run=verbs.runner(run))
        return parser

    hook("list", "webhooks", hooks.webhooks_list)
    put_hook = hook("set", "create or replace a webhook", hooks.webhooks_set)
    put_hook.add_argument("name")
    put_hook.add_argument("--url", required=True)
    put_hook.add_argument(
        "--secret-env", required=True, help="env variable of the control plane holding the secret"
    )
    put_hook.add_argument("--events", default="*", help="comma-separated event types (default *)")
    put_hook.add_argument("--route", help="only this route's events")
    put_hook.add_argument("--format", choices=["json", "slack"], default="json")
    put_hook.add_argument("--max-attempts", type=int, default=8)
    delete_hook = hook("delete", "delete a webhook", hooks.webhooks_delete)
    delete_hook.add_argument("name")
    log = hook("deliveries", "the delivery log", hooks.deliveries)
    log.add_argument("--webhook")
    log.add_argument("--status", choices=["pending", "delivered", "dead"])
    log.add_argument("--limit", type=int, default=50)
    again = hook("redeliver", "queue a delivery again by id", hooks.redeliver)
    again.add_argument("id")

    story = verb("timeline", "postmortem timeline of a route (Markdown or JSON)", blast.timeline)
    story.add_argument("route")
    story.add_argument("--since", default="2h", help="90m, 2h, 2d or an ISO time (default 2h)")
    story.add_argument("--format", choices=["md", "json"], default="md")

    group_verbs = commands.add_parser("group", help="route groups (coordinated changes)")
    group_sub = group_verbs.add_subparsers(dest="verb", required=True)

    def grouped(name: str, help_: str, run: verbs.Verb) -> argparse.ArgumentParser:
        parser = group_sub.add_parser(name, help=help_, parents=[common])
        parser.set_defaults(run=verbs.runner(run))
        parser.add_argument("group")
        return parser

    joining = grouped(
        "set",
        "put routes into a group (one bucketing salt; moves their keys into its slot)",
        grouping.group_set,
    )
    joining.add_argument("--routes", required=True, help="comma-separated route names")
    _reason(joining)
    grouped("show", "the routes of a group", grouping.group_show)
    change = grouped("change", "flip, promote or roll back the whole group", grouping.group_change)
    change.add_argument("--action", choices=["flip", "promote", "rollback"], default="flip")
    change.add_argument("--release", action="append", default=[], metavar="ROUTE=rN")
    change.add_argument("--percent", type=float, help="flip: the new releases' share")
    change.add_argument(
        "--emergency", action="store_true", help="override a freeze (reviewed on every route)"
    )
    _reason(change)
    group_rollout.add_parser(group_sub, common, verbs.runner)

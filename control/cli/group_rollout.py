"""`turnout group rollout start|status|pause|resume|abort|promote`: a rollout of every route of a
group from the shell (each step moves every route; judged on the group's combined guards). The
answers are decoded as the API's own `GroupRolloutView` and printed as aligned lines (JSON with
--json)."""

import argparse
from typing import Any

from control.cli import output
from control.cli import rollout as route_rollout
from control.cli.client import AdminClient
from control.grouprollout.model import GroupRolloutView


def _releases(items: list[str]) -> dict[str, str]:
    releases = {}
    for item in items:
        route, sep, release = item.partition("=")
        if not sep or not route or not release:
            raise SystemExit(f"turnout: --release takes ROUTE=RELEASE, got {item!r}")
        releases[route] = release
    return releases


def start(client: AdminClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"releases": _releases(args.release), "reason": args.reason}
    body.update(route_rollout.policy_options(args))
    if args.emergency:
        body["emergency"] = True
    path = f"/admin/groups/{args.group}/rollouts"
    return _show(client.call("POST", path, body, reply=GroupRolloutView), args)


def verb(client: AdminClient, args: argparse.Namespace) -> int:
    path = f"/admin/groups/{args.group}/rollouts/{args.rollout_verb}"
    body: dict[str, Any] = {"reason": args.reason}
    if getattr(args, "emergency", False):
        body["emergency"] = True
    return _show(client.call("POST", path, body, reply=GroupRolloutView), args)


def status(client: AdminClient, args: argparse.Namespace) -> int:
    path = f"/admin/groups/{args.group}/rollouts"
    return _show(client.call("GET", path, reply=GroupRolloutView), args)


def _show(view: GroupRolloutView, args: argparse.Namespace) -> int:
    output.emit_json(view) if args.json else output.emit(text(view))
    return 0


def text(view: GroupRolloutView) -> str:
    rollout, step = view.rollout, view.rollout.step
    steps = " → ".join(f"{s:g}%" for s in rollout.steps)
    lines = [
        f"group rollout {rollout.id} of {rollout.group} ({rollout.change_type} change, "
        f"{rollout.policy})",
        f"status {rollout.status}: {rollout.status_reason}",
        f"step {step.index + 1}/{len(rollout.steps)}: every route at {step.percent:g}%"
        f"  [{steps}]  canary {rollout.canary_requests} / stable "
        f"{rollout.baseline_requests} calls (pooled)",
    ]
    progress = view.progress
    if progress is not None:
        lines.append(
            f"next decision: {progress.fraction:.0%}  (bake {progress.bake_remaining_s:g} s, "
            f"{progress.requests_remaining} canary calls to go)"
        )
    rows = []
    for member in rollout.members:
        srm = member.srm
        split = "-" if srm is None else ("MISMATCH" if srm.mismatch else "ok")
        calls = f"{member.canary_requests}/{member.baseline_requests}"
        rows.append([member.route, member.release, member.stable, calls, split])
    lines.append(output.table(["ROUTE", "CANDIDATE", "STABLE", "CANARY/STABLE", "SPLIT"], rows))
    lines.append(output.table(route_rollout.HEADERS, route_rollout.guard_rows(rollout)))
    return "\n".join(lines)


def add_parser(
    group_sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
    common: argparse.ArgumentParser,
    runner: Any,
) -> None:
    rollout = group_sub.add_parser(
        "rollout", help="a canary rollout of every route of the group, judged together"
    ).add_subparsers(dest="rollout_verb", required=True)
    begin = rollout.add_parser(
        "start", help="start: every route's candidate, moved together", parents=[common]
    )
    begin.add_argument("group")
    begin.add_argument(
        "--release",
        action="append",
        required=True,
        metavar="ROUTE=RELEASE",
        help="the candidate of a route (repeat for every route of the group)",
    )
    route_rollout.add_policy_arguments(begin)
    begin.add_argument(
        "--emergency",
        action="store_true",
        help="start in a freeze (audited; a review item on every route)",
    )
    begin.add_argument("--reason", "-m", required=True, help="why (recorded in the audit trail)")
    begin.set_defaults(run=runner(start))
    show = rollout.add_parser("status", help="state, combined evidence, each route's split",
                              parents=[common])  # fmt: skip
    show.add_argument("group")
    show.set_defaults(run=runner(status))
    for name, help_ in (
        ("pause", "stop judging; traffic stays"),
        ("resume", "judge again (puts any moved route back at the step's weights)"),
        ("abort", "every route back to its stable release, in one step"),
        ("promote", "every candidate becomes stable at 100%% now, in one step"),
    ):
        act = rollout.add_parser(name, help=help_, parents=[common])
        act.add_argument("group")
        act.add_argument("--reason", "-m", required=True, help="why (audited)")
        if name in ("resume", "promote"):
            act.add_argument(
                "--emergency",
                action="store_true",
                help="override a freeze (audited; a review item on every route it moves)",
            )
        act.set_defaults(run=runner(verb))

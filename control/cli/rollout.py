"""`turnout rollout start|status|pause|resume|abort|promote`: canary rollouts from the shell.

`status --watch` redraws a live table (rich) until the rollout ends: the step, a progress bar to
the next decision, and per guard its verdict and bounds.
"""

import argparse
import time
from typing import Any, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from control.cli import output
from control.cli.client import AdminClient
from control.durations import duration_s
from control.rollout.evidence import Evidence
from control.rollout.model import Guard, RolloutView

TERMINAL = ("rolled_back", "completed", "aborted")


def _seconds(text: str) -> float:
    found = duration_s(text)
    if found is not None:
        return float(found)
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"turnout: expected seconds or a duration like 5m, got {text!r}") from None


def _guard(text: str) -> dict[str, Any]:
    """`error_rate` or `error_rate:margin=0.02,hard_ceiling=0.2` → a guard object."""
    metric, _, options = text.partition(":")
    guard: dict[str, Any] = {"metric": metric}
    for option in filter(None, options.split(",")):
        key, sep, value = option.partition("=")
        if not sep:
            raise SystemExit(f"turnout: --guard options take KEY=VALUE, got {option!r}")
        guard[key] = int(value) if key in ("hard_min_n", "min_samples") else float(value)
    return guard


def policy_options(args: argparse.Namespace) -> dict[str, Any]:
    """The policy overrides given on the command line (a route's or a group's rollout)."""
    body: dict[str, Any] = {}
    if args.steps:
        body["steps"] = [float(s) for s in args.steps.split(",")]
    if args.min_bake is not None:
        body["min_bake_s"] = _seconds(args.min_bake)
    if args.max_step is not None:
        body["max_step_s"] = _seconds(args.max_step)
    if args.min_requests is not None:
        body["min_requests"] = args.min_requests
    if args.guard:
        body["guards"] = [_guard(g) for g in args.guard]
    if args.on_inconclusive:
        body["on_inconclusive"] = args.on_inconclusive
    if args.alpha is not None:
        body["alpha"] = args.alpha
    if args.skip_gate:
        body["skip_gate"] = True
    return body


def start(client: AdminClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"release": args.release, "reason": args.reason}
    body.update(policy_options(args))
    if args.emergency:
        body["emergency"] = True
    view = client.call("POST", f"/admin/routes/{args.route}/rollouts", body, reply=RolloutView)
    return _show(view, args)


def verb(client: AdminClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason}
    if getattr(args, "emergency", False):
        body["emergency"] = True
    path = f"/admin/routes/{args.route}/rollouts/{args.verb}"
    return _show(client.call("POST", path, body, reply=RolloutView), args)


def status(client: AdminClient, args: argparse.Namespace) -> int:
    path = f"/admin/routes/{args.route}/rollouts"
    if not args.watch:
        return _show(client.call("GET", path, reply=RolloutView), args)
    console = Console()
    first = client.call("GET", path, reply=RolloutView)
    with Live(render(first), console=console, auto_refresh=False) as live:
        while True:
            view = client.call("GET", path, reply=RolloutView)
            live.update(render(view), refresh=True)
            if view.rollout.status in TERMINAL:
                return 0
            time.sleep(args.interval)


def _show(view: RolloutView, args: argparse.Namespace) -> int:
    if args.json:
        output.emit_json(view)
    else:
        output.emit(text(view))
    return 0


def _bound(value: float) -> str:
    return f"{value:+.4f}"


class Judged(Protocol):
    """What the guard table reads of a rollout: a route's or a group's (combined guards)."""

    @property
    def guards(self) -> list[Guard]: ...
    @property
    def evidence(self) -> list[Evidence]: ...


def guard_rows(rollout: Judged) -> list[list[object]]:
    """The guards' last look, one row per guard."""
    found = {e.metric: e for e in rollout.evidence}
    rows: list[list[object]] = []
    for guard in rollout.guards:
        evidence = found.get(guard.metric)
        if evidence is None:
            rows.append([guard.metric, "-", "-", "-", "-", guard.margin])
            continue
        rows.append(
            [
                guard.metric,
                evidence.verdict,
                f"{evidence.n_canary}/{evidence.n_baseline}",
                _bound(evidence.estimate),
                f"[{_bound(evidence.lower)}, {_bound(evidence.upper)}]",
                guard.margin,
            ]
        )
    return rows


def _head(view: RolloutView) -> str:
    rollout, step = view.rollout, view.rollout.step
    steps = " → ".join(f"{s:g}%" for s in rollout.steps)
    return (
        f"rollout of {rollout.release} on {rollout.route} (stable {rollout.stable}, "
        f"{rollout.change_type} change, {rollout.policy})\n"
        f"status {rollout.status}: {rollout.status_reason}\n"
        f"step {step.index + 1}/{len(rollout.steps)} at {step.percent:g}%  [{steps}]  "
        f"canary {rollout.canary_requests} / stable {rollout.baseline_requests} calls"
    )


HEADERS = ["guard", "verdict", "n canary/stable", "estimate", "bounds", "margin"]


def text(view: RolloutView) -> str:
    """The plain, aligned form (also what --json users see as fields)."""
    progress = view.progress
    lines = [_head(view)]
    if progress is not None:
        lines.append(
            f"next decision: {progress.fraction:.0%}  (bake {progress.bake_remaining_s:g} s, "
            f"{progress.requests_remaining} canary calls to go; deadline in "
            f"{progress.until_deadline_s:g} s)"
        )
    lines.append(output.table(HEADERS, guard_rows(view.rollout)))
    return "\n".join(lines)


def render(view: RolloutView) -> Group:
    """The live form for --watch."""
    table = Table(*HEADERS)
    colours = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    for row in guard_rows(view.rollout):
        verdict = str(row[1])
        table.add_row(
            *(Text(str(c), style=colours.get(verdict, "") if i == 1 else "") for i, c in
              enumerate(row))
        )  # fmt: skip
    parts: list[Any] = [Text(_head(view))]
    if view.progress is not None:
        parts.append(Text("next decision"))
        parts.append(ProgressBar(total=1.0, completed=view.progress.fraction, width=40))
    parts.append(table)
    return Group(*parts)


def add_policy_arguments(begin: argparse.ArgumentParser) -> None:
    begin.add_argument("--steps", help="canary percents, e.g. 1,5,25,50,100")
    begin.add_argument("--min-bake", help="seconds or 5m per step before advancing")
    begin.add_argument("--min-requests", type=int, help="canary calls per step before advancing")
    begin.add_argument("--max-step", help="then inconclusive: seconds or 1h")
    begin.add_argument(
        "--guard",
        action="append",
        metavar="METRIC[:K=V,...]",
        help="error_rate, thumbs_down_rate, score, latency; options margin, tau, tolerated, "
        "hard_ceiling, hard_min_n, min_samples (repeat per guard)",
    )
    begin.add_argument("--on-inconclusive", choices=["pause", "extend"])
    begin.add_argument("--alpha", type=float, help="false-alarm budget split across guards")
    begin.add_argument("--skip-gate", action="store_true", help="no eval gate (audited)")


def add_parser(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    common: argparse.ArgumentParser,
    runner: Any,
) -> None:
    rollout = commands.add_parser("rollout", help="canary rollouts").add_subparsers(
        dest="verb", required=True
    )
    begin = rollout.add_parser("start", help="start a canary rollout", parents=[common])
    begin.add_argument("route")
    begin.add_argument("release")
    add_policy_arguments(begin)
    begin.add_argument(
        "--emergency", action="store_true", help="start in a freeze (audited, reviewed)"
    )
    begin.add_argument("--reason", "-m", required=True, help="why (recorded in the audit trail)")
    begin.set_defaults(run=runner(start))

    show = rollout.add_parser("status", help="state and evidence", parents=[common])
    show.add_argument("route")
    show.add_argument("--watch", action="store_true", help="redraw live until it ends")
    show.add_argument("--interval", type=float, default=1.0, help="seconds between redraws")
    show.set_defaults(run=runner(status))

    for name, help_ in (
        ("pause", "stop judging; traffic stays"),
        ("resume", "judge again (puts the step's weights back if moved)"),
        ("abort", "all traffic back to stable"),
        ("promote", "the candidate becomes stable at 100%% now"),
    ):
        act = rollout.add_parser(name, help=help_, parents=[common])
        act.add_argument("route")
        act.add_argument("--reason", "-m", required=True, help="why (audited)")
        if name in ("resume", "promote"):
            act.add_argument(
                "--emergency", action="store_true", help="override a freeze (audited, reviewed)"
            )
        act.set_defaults(run=runner(verb))

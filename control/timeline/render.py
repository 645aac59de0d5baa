"""A timeline as a blameless postmortem skeleton in Markdown. Pure; no I/O, no clock.

Facts come from the timeline (what shipped when, what was decided by whom or by which rule,
how far it reached); the sections a human must write are marked `_(to write)_`. A rollout's
decision (a route rollout's, or a group rollout's on each member route) names the rollout and
its step, and shows its evidence as the guards' verdicts with their bounds and the split check.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from control.impact.compute import Figures
from control.timeline.model import Decision, Moment, Timeline

TODO = "_(to write)_"
CONTROLLER = "controller"  # the rollout controllers' audit actor


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _who(moment: Moment) -> str:
    rule = (moment.evidence or {}).get("rule")
    who = f"{moment.actor} (rule: {rule})" if rule else moment.actor
    return f"{who} **emergency**" if moment.emergency else who


def _signed(value: float) -> str:
    return f"{value:+.4f}"


def _decided(decision: Decision) -> str:
    """What a rollout decision moved: which rollout, at which step."""
    rollout = (
        f"group rollout {decision.group_rollout} of {decision.group}"
        if decision.group_rollout
        else "rollout"
    )
    return (
        f"{rollout}: {decision.release} over {decision.stable}, step {decision.step + 1} at "
        f"{decision.percent:g}%"
    )


def _decision_evidence(decision: Decision, evidence: dict[str, Any]) -> str:
    """The guards' verdicts at the look that decided, the split check and the counts."""
    parts = [
        f"{g.metric} {g.verdict}: {_signed(g.estimate)} in [{_signed(g.lower)}, "
        f"{_signed(g.upper)}], n {g.n_canary}/{g.n_baseline}"
        for g in decision.guards
    ] or ["no look yet"]
    if decision.split_mismatch is not None:
        parts.append("split MISMATCH" if decision.split_mismatch else "split ok")
    if decision.combined_calls is not None:
        canary, stable = decision.combined_calls
        parts.append(f"combined canary/stable calls {canary}/{stable}")
    if decision.route_calls is not None:
        canary, stable = decision.route_calls
        parts.append(f"this route {canary}/{stable}")
    overrode = evidence.get("overrode")
    if isinstance(overrode, dict) and overrode.get("window"):
        parts.append(f"overrode window {overrode['window']}")
    return "; ".join(parts)


def _evidence(moment: Moment) -> str:
    evidence = moment.evidence
    if not evidence:
        return ""
    if moment.decision is not None:
        return _decision_evidence(moment.decision, evidence)
    shown = {k: v for k, v in evidence.items() if k not in ("emergency", "rule")}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items()) if v is not None)


def _what(moment: Moment) -> str:
    if moment.decision is None:
        return moment.summary
    return f"{_decided(moment.decision)}: {moment.summary}"


def _automated(moment: Moment) -> bool:
    """A decision no person made: the rollout controller's, or an entry whose evidence names
    the rule that decided it (an operator's change carrying evidence, like a join's moved keys
    or an operator's rollout start, is none)."""
    if moment.emergency or not moment.evidence:
        return False
    return moment.actor == CONTROLLER or bool(moment.evidence.get("rule"))


def _table(headers: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _figures_row(release: str, f: Figures) -> list[str]:
    return [
        release,
        str(f.calls),
        str(f.distinct_users),
        f"{f.errors} ({_rate(f.error_rate)})",
        f"{f.thumbs_down} ({_rate(f.thumbs_down_rate)})",
        f"{f.cost_usd:.6f}",
    ]


def _detection(timeline: Timeline) -> list[str]:
    lines = []
    for row in timeline.traffic:
        bad = sorted(
            r
            for r in set(row.errors) | set(row.thumbs_down)
            if r != timeline.stable or r in row.errors
        )
        if bad:
            signs = ", ".join(
                f"{r}: {row.errors.get(r, 0)} errors, {row.thumbs_down.get(r, 0)} thumbs-down "
                f"of {row.calls.get(r, 0)} calls"
                for r in bad
            )
            lines.append(f"- First signal in the data: minute {_t(row.minute)}: {signs}.")
            break
    for moment in timeline.moments:
        if _automated(moment):
            lines.append(
                f"- First automated decision: {_t(moment.time)} {moment.action} by "
                f"{_who(moment)}: {_evidence(moment)}."
            )
            break
    lines.append(f"- How a human noticed: {TODO}")
    return lines


def render(timeline: Timeline) -> str:
    out = [
        f"# Postmortem: route `{timeline.route}`",
        "",
        f"Interval: {_t(timeline.since)} to {_t(timeline.until)} UTC. "
        f"Stable now: {timeline.stable}."
        + (f" Kill switch on {timeline.kill_switch}." if timeline.kill_switch else "")
        + (f" Frozen by window {timeline.frozen_by}." if timeline.frozen_by else ""),
        "",
        "This is a blameless review: it describes what the system and the people in it did, "
        "and why that made sense at the time.",
        "",
        "## Summary",
        "",
        TODO,
        "",
        "## What shipped",
        "",
    ]
    shipped = [m for m in timeline.moments if m.action in ("release.create", "route.create")]
    out += [f"- {_t(m.time)} {m.summary} by {m.actor}: {m.reason or '-'}" for m in shipped]
    out += ["- nothing new in this interval"] if not shipped else []
    out += ["", "## How it was detected", "", *_detection(timeline), "", "## Timeline", ""]
    out += _table(
        ["time (UTC)", "source", "action", "by (or rule)", "what", "reason", "evidence"],
        (
            [_t(m.time), m.source, m.action, _who(m), _what(m), m.reason, _evidence(m)]
            for m in timeline.moments
        ),
    )
    out += ["", "## Reach", ""]
    if timeline.reach:
        out += _table(
            ["release", "calls", "distinct users", "errors", "thumbs-down", "cost USD"],
            (_figures_row(r.release, r.figures) for r in timeline.reach),
        )
        out += ["", "Distinct users are sticky keys counted by HyperLogLog (~0.8% error)."]
    else:
        out.append("No calls in this interval.")
    out += ["", "## Traffic per minute", ""]
    releases = sorted({r for row in timeline.traffic for r in row.calls})
    out += _table(
        ["minute (UTC)", *[f"{r} calls / errors / down" for r in releases]],
        (
            [
                _t(row.minute),
                *[
                    f"{row.calls.get(r, 0)} / {row.errors.get(r, 0)} / {row.thumbs_down.get(r, 0)}"
                    for r in releases
                ],
            ]
            for row in timeline.traffic
        ),
    )
    out += ["", "## Review items", ""]
    out += [
        f"- {r.action} by {r.actor} ({r.reason}): {r.status}"
        + (f" by {r.ack_by}: {r.ack_note}" if r.ack_by else "")
        for r in timeline.reviews
    ] or ["- none"]
    out += [
        "",
        "## What went well",
        "",
        TODO,
        "",
        "## What we will change",
        "",
        f"- [ ] {TODO}",
        "",
    ]
    return "\n".join(out)

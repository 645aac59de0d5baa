"""Which webhook events an audit entry or a window transition is. Pure; no I/O, no clock."""

from typing import Any

from control.notify.model import Event
from control.routes.audit import AuditEntry

POINTER_MOVES = ("route.flip", "route.promote", "route.rollback", "route.kill", "route.unkill")
# Rollout and gate actions are written by the rollout controller and the eval gate; their verbs
# are matched loosely so either tense maps to the one event type.
ROLLOUT = {
    "start": "rollout.started",
    "started": "rollout.started",
    "step": "rollout.step",
    "advance": "rollout.step",
    "advanced": "rollout.step",
    "pause": "rollout.paused",
    "paused": "rollout.paused",
    "rollback": "rollout.rolled_back",
    "rolled_back": "rollout.rolled_back",
    "abort": "rollout.rolled_back",
    "aborted": "rollout.rolled_back",
    "complete": "rollout.completed",
    "completed": "rollout.completed",
    "promote": "rollout.completed",
    "promoted": "rollout.completed",
}


def _moved(entry: AuditEntry) -> bool:
    """Whether traffic moved (weights, stable or kill switch), whoever moved it (a rollout)."""
    before, after = entry.before, entry.after
    if before is None or after is None:
        return False
    return any(before.get(k) != after.get(k) for k in ("weights", "stable", "kill_switch"))


def types_of(entry: AuditEntry) -> list[str]:
    action = entry.action
    found: list[str] = []
    if action in ("release.create", "route.create"):
        found.append("release.created")
    if action in POINTER_MOVES or _moved(entry):
        found.append("weights.changed")
    kind, _, verb = action.partition(".")
    if kind in ("rollout", "group_rollout") and verb in ROLLOUT:  # a group's: on each route
        found.append(ROLLOUT[verb])
    if kind in ("gate", "eval"):
        found.append("gate.verdict")
    if entry.evidence and entry.evidence.get("emergency") is True:
        found += ["emergency.change", "review.needed"]
    if action == "review.ack":
        found.append("review.acknowledged")
    return found


def _pointer(state: dict[str, Any] | None) -> dict[str, Any] | None:
    if state is None:
        return None
    keep = ("weights", "stable", "kill_switch", "pinned", "rollout")
    return {k: state[k] for k in keep if k in state}


def route_events(entry: AuditEntry) -> list[Event]:
    detail: dict[str, Any] = {
        "action": entry.action,
        "before": _pointer(entry.before),
        "after": _pointer(entry.after),
    }
    if entry.release:
        detail["release"] = entry.release
    if entry.evidence:
        detail["evidence"] = entry.evidence
    return [
        Event(
            id=f"{entry.route}:{entry.id}:{kind}",
            type=kind,
            time=entry.time,
            route=entry.route,
            actor=entry.actor,
            reason=entry.reason,
            audit_id=entry.id,
            revision=entry.revision,
            detail=detail,
        )
        for kind in types_of(entry)
    ]


def releases_with_traffic(entry: AuditEntry) -> list[str]:
    """Releases that had or have traffic around the change: whose reach the event reports."""
    found: set[str] = set()
    for state in (entry.before, entry.after):
        if state:
            found |= {r for r, w in state.get("weights", {}).items() if w > 0}
            if state.get("kill_switch"):
                found.add(state["kill_switch"])
    if entry.release:
        found.add(entry.release)
    return sorted(found)

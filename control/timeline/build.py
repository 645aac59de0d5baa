"""Collecting a route's timeline from Redis: the audit trail (with rollout and gate evidence),
window changes, webhook deliveries, per-minute traffic, reach and review items."""

from datetime import UTC, datetime
from typing import Any

import msgspec
import redis.asyncio as aioredis

from control import keyspace
from control.errors import BROKEN_RULE, BadInput
from control.impact.read import read_impact
from control.notify import outbox
from control.reviews import store as reviews
from control.routes import audit, views
from control.stats.compute import OK, merge
from control.stats.read import read_buckets
from control.store import Store
from control.timeline.model import (
    Decision,
    GuardVerdict,
    MinuteTraffic,
    Moment,
    Reach,
    Timeline,
)
from control.windows.check import active_freeze
from gateway.contract import telemetry as tk

AUDIT_LIMIT = 1000


def _weights(state: dict[str, Any] | None) -> str:
    if not state:
        return "-"
    shown = [f"{r}={w:g}%" for r, w in sorted(state.get("weights", {}).items()) if w]
    return " ".join(shown) or "-"


def describe(entry: audit.AuditEntry) -> str:
    before, after = entry.before, entry.after
    if entry.action in ("release.create", "route.create") and entry.release:
        return f"release {entry.release} created"
    if after is None:
        return entry.action
    parts = []
    if before is None or before.get("weights") != after.get("weights"):
        parts.append(f"{_weights(before)} -> {_weights(after)}")
    if before is not None and before.get("stable") != after.get("stable"):
        parts.append(f"stable {before.get('stable')} -> {after.get('stable')}")
    if (before or {}).get("kill_switch") != after.get("kill_switch"):
        killed = after.get("kill_switch")
        parts.append(f"kill switch on {killed}" if killed else "kill switch lifted")
    if before is not None and before.get("pinned") != after.get("pinned"):
        parts.append("pinned" if after.get("pinned") else "unpinned")
    return "; ".join(parts) or "no pointer change"


def _calls(counts: Any) -> tuple[int, int] | None:
    if not isinstance(counts, dict):
        return None
    return int(counts.get("canary_requests", 0)), int(counts.get("baseline_requests", 0))


def decision(entry: audit.AuditEntry) -> Decision | None:
    """A route or group rollout's decision, from the evidence its audit entry carries (the
    step, the guards' verdicts at the look that decided, the split check); None for any other
    entry, or for evidence of another shape."""
    evidence = entry.evidence
    if not entry.action.startswith(("rollout.", "group_rollout.")) or not evidence:
        return None
    if "guards" not in evidence or "rollout" not in evidence or "step" not in evidence:
        return None
    try:
        guards = msgspec.convert(evidence["guards"] or [], list[GuardVerdict])
        rollout, step = evidence["rollout"], evidence["step"]
        srm = evidence.get("srm")
        group = evidence.get("group_rollout") or {}
        return Decision(
            release=str(rollout["release"]),
            stable=str(rollout["stable"]),
            step=int(step["index"]),
            percent=float(step["percent"]),
            guards=guards,
            split_mismatch=bool(srm["mismatch"]) if isinstance(srm, dict) else None,
            group=group.get("group"),
            group_rollout=group.get("id"),
            combined_calls=_calls(evidence.get("combined")),
            route_calls=_calls(evidence.get("route")),
        )
    except (msgspec.ValidationError, KeyError, TypeError, ValueError):
        return None  # an entry written by an older version: shown as a plain entry


def _route_moment(entry: audit.AuditEntry) -> Moment:
    evidence = entry.evidence
    emergency = bool(evidence and evidence.get("emergency") is True)
    if entry.action == "review.ack" and evidence:
        summary = f"review of {evidence.get('change')} acknowledged"
    else:
        summary = describe(entry)
    return Moment(
        time=entry.time,
        source="audit",
        action=entry.action,
        actor=entry.actor,
        summary=summary,
        reason=entry.reason,
        evidence=evidence,
        emergency=emergency,
        decision=decision(entry),
    )


async def _window_moments(redis: aioredis.Redis, route: str, start_ms: int) -> list[Moment]:
    raw: list[Any] = await redis.xrange(keyspace.WINDOWS_AUDIT, min=str(start_ms))  # type: ignore[assignment]
    moments = []
    for entry_id, fields in raw:
        entry = audit.decode_entry(entry_id, fields)
        window = entry.after or entry.before or {}
        if window.get("route") not in (None, route):
            continue
        verb = "deleted" if entry.action == "window.delete" else "set"
        moments.append(
            Moment(
                time=entry.time,
                source="window",
                action=entry.action,
                actor=entry.actor,
                summary=f"{window.get('kind', 'freeze')} window {entry.window} {verb}",
                reason=entry.reason,
            )
        )
    return moments


async def _delivery_moments(redis: aioredis.Redis, route: str, since_s: int) -> list[Moment]:
    moments = []
    for delivery in await outbox.listing(redis, None, None, 1000):
        event = delivery.event
        if event.route not in (None, route) or delivery.created_at < since_s:
            continue
        when = delivery.delivered_at or delivery.created_at
        moments.append(
            Moment(
                time=datetime.fromtimestamp(when, tz=UTC),
                source="webhook",
                action=f"webhook.{delivery.status}",
                actor=f"webhook {delivery.webhook}",
                summary=f"{event.type} {delivery.status} after {delivery.attempts} attempt(s)",
                reason="",
            )
        )
    return moments


def traffic(minutes: list[int], buckets: list[dict[str, int]]) -> list[MinuteTraffic]:
    rows = []
    for minute, bucket in zip(minutes, buckets, strict=True):
        totals = merge([bucket])
        calls = {r: t.get(tk.REQUESTS) for r, t in sorted(totals.items()) if t.get(tk.REQUESTS)}
        downs = {
            r: t.get(tk.THUMBS_DOWN) for r, t in sorted(totals.items()) if t.get(tk.THUMBS_DOWN)
        }
        if not calls and not downs:
            continue
        errors = {
            r: sum(c for o, c in t.outcomes.items() if o != OK) for r, t in sorted(totals.items())
        }
        rows.append(
            MinuteTraffic(
                minute=datetime.fromtimestamp(minute * tk.MINUTE_S, tz=UTC),
                calls=calls,
                errors={r: n for r, n in errors.items() if n},
                thumbs_down=downs,
            )
        )
    return rows


async def build(store: Store, route: str, since_s: int, now: datetime) -> Timeline:
    now_s = int(now.timestamp())
    if now_s - since_s > tk.MINUTE_TTL_S:
        raise BadInput("since: a timeline covers at most 2 days", field="since", code=BROKEN_RULE)
    data = await views.read(store, route)
    redis = store.redis
    since_iso = datetime.fromtimestamp(since_s, tz=UTC).isoformat()
    query = audit.AuditQuery(route=route, since=since_iso, limit=AUDIT_LIMIT)
    moments = [_route_moment(e) for e in await audit.read(store, query)]
    moments += await _window_moments(redis, route, since_s * 1000)
    moments += await _delivery_moments(redis, route, since_s)
    moments.sort(key=lambda m: (m.time, m.source != "audit"))
    minutes = list(range(since_s // tk.MINUTE_S, now_s // tk.MINUTE_S + 1))
    buckets = await read_buckets(redis, [tk.minute_bucket(route, m) for m in minutes])
    rows = traffic(minutes, buckets)
    served = views.sorted_ids(list({r for row in rows for r in row.calls}))
    reach = [
        Reach(
            release=release,
            figures=(await read_impact(redis, data, release, since_s, now_s)).release_figures,
        )
        for release in served
        if release in data.releases
    ]
    found = [
        r
        for r in await reviews.read(store, route, "all")
        if r.status == "open" or (r.opened_at and r.opened_at.timestamp() >= since_s)
    ]
    freeze = await active_freeze(redis, route, now)
    return Timeline(
        route=route,
        since=datetime.fromtimestamp(since_s, tz=UTC),
        until=now,
        stable=data.state.stable,
        kill_switch=data.state.kill_switch,
        frozen_by=freeze.window if freeze else None,
        moments=moments,
        traffic=rows,
        reach=reach,
        reviews=found,
    )

"""The audit trail: reading the per-route streams (and the providers' stream) for the admin API.

Entries are written only by the Lua scripts, in the same atomic step as the change they record.
"""

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from control import homes, keyspace
from control.durations import DurationOrTime, Time, duration_s, is_iso_time
from control.errors import BROKEN_RULE, BadInput
from control.routes.weights import bp_to_percent
from control.store import Store, text
from gateway.contract import keys


class AuditQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    route: str | None = None  # only this route; default: every route and the providers
    since: DurationOrTime | None = None  # a duration back from now ("15m", "2h") or an ISO time
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100  # the newest entries, oldest first


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # stream entry id, unique and ordered within its stream
    time: Time
    route: str | None
    provider: str | None
    action: str  # route.create, release.create, route.flip, route.promote, route.rollback, …
    actor: str  # the admin token's name
    reason: str
    revision: int | None  # the route's revision after the change
    release: str | None  # the release created, for release.create and route.create
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    evidence: dict[str, Any] | None  # the data behind an automated decision
    window: str | None = None  # window.put / window.delete: the window's name


def since_ms(since: str | None, now_s: float) -> int | None:
    """Milliseconds since the epoch for `since`; BadInput naming `since` when it does not parse."""
    if since is None:
        return None
    back_s = duration_s(since)
    if back_s is not None:
        return max(0, int((now_s - back_s) * 1000))  # before the epoch: everything
    if not is_iso_time(since):
        raise BadInput(
            "since: must be a duration like 15m, 2h, 7d or an ISO 8601 time", field="since"
        )
    try:
        moment = datetime.fromisoformat(since)
    except ValueError as error:
        raise BadInput(f"since: {since!r}: {error}", field="since", code=BROKEN_RULE) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp() * 1000))


def _state_view(blob: str) -> dict[str, Any] | None:
    if not blob:
        return None
    state: dict[str, Any] = msgspec.json.decode(blob)
    weights = state.pop("weights_bp", None)
    if isinstance(weights, dict):
        state["weights"] = {r: bp_to_percent(bp) for r, bp in weights.items()}
    state.pop("schema_version", None)
    return state


def _object(blob: str) -> dict[str, Any] | None:
    return msgspec.json.decode(blob) if blob else None


def decode_entry(entry_id: bytes | str, raw: dict[Any, Any]) -> AuditEntry:
    fields = {text(k): text(v) for k, v in raw.items()}
    ident = text(entry_id)
    is_route = "route" in fields
    view = _state_view if is_route else _object
    return AuditEntry(
        id=ident,
        time=datetime.fromtimestamp(int(ident.split("-")[0]) / 1000, tz=UTC),
        route=fields.get("route"),
        provider=fields.get("provider"),
        action=fields.get("action", ""),
        actor=fields.get("actor", ""),
        reason=fields.get("reason", ""),
        revision=int(fields["revision"]) if "revision" in fields else None,
        release=fields.get("release"),
        before=view(fields.get("before", "")),
        after=view(fields.get("after", "")),
        evidence=_object(fields.get("evidence", "")),
        window=fields.get("window"),
    )


def _order(entry: AuditEntry) -> tuple[int, int]:
    milliseconds, sequence = entry.id.split("-")
    return int(milliseconds), int(sequence)


async def _stream(store: Store, key: str, start: str, limit: int) -> list[AuditEntry]:
    raw: list[tuple[bytes, dict[bytes, bytes]]] = await store.redis.xrevrange(
        key, max="+", min=start, count=limit
    )  # type: ignore[assignment]
    return [decode_entry(entry_id, fields) for entry_id, fields in raw]


async def read(store: Store, query: AuditQuery) -> list[AuditEntry]:
    start_ms = since_ms(query.since, time.time())
    start = "-" if start_ms is None else str(max(start_ms, 0))
    found = await homes.all_groups(store.redis)
    if query.route is not None:
        streams = [keys.route_audit(query.route, found.get(query.route))]
    else:
        names = sorted(text(n) for n in await store.redis.smembers(keys.ROUTE_INDEX))
        streams = [keys.route_audit(name, found.get(name)) for name in names]
        streams += [keyspace.PROVIDERS_AUDIT, keyspace.WINDOWS_AUDIT]
    entries: list[AuditEntry] = []
    for key in streams:
        entries.extend(await _stream(store, key, start, query.limit))
    entries.sort(key=_order)
    return entries[-query.limit :]

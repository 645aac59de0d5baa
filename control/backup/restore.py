"""Restore: re-seed Redis from an export or from a gateway's last-known-good snapshot.json.

Providers, prompt and model versions, routes with their releases are written first; then the
data epoch is put back and the data-lost marker cleared (the commit point: gateways and the
control plane treat Redis as lost until then), and the change is announced to gateways. Each
restored route gets a revision above every revision anyone reported holding (the file, Redis,
the gateways' accounts in the data-lost marker), so gateways accept it. Versions and releases
already in Redis are never overwritten (they are immutable). Audited per route as a restore.
"""

import time
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from redis.asyncio.client import Pipeline

from control import homes, keyspace
from control.backup import seed
from control.backup.export import RegistryExport, RouteRecord
from control.backup.seed import Seed
from control.durability import new_epoch
from control.errors import Conflict
from control.notify import outbox
from control.registry import rules
from control.reviews.model import encoder as review_encoder
from control.store import Store, text
from gateway.contract import durability, keys
from gateway.contract.durability import DataEpoch, epoch_encoder
from gateway.contract.events import ProvidersChanged, RouteChanged, event_encoder
from gateway.contract.snapshot import RouteState, Snapshot

_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(RouteState)


class RestoreIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of `export` (from `turnout export`) or `snapshot` (a gateway's file)."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    export: RegistryExport | None = None
    snapshot: Snapshot | None = None
    force: bool = False  # restore over a registry that holds data and did not lose it

    def __post_init__(self) -> None:
        if (self.export is None) == (self.snapshot is None):
            raise ValueError("give exactly one of `export` or `snapshot`")


# The "exactly one" rule in the schema's words (JSON Schema states it: one non-null source),
# so a body giving neither or both is plain `invalid_input`. The endpoint declares this type.
# A snapshot's contract types carry no name rules; what a restore checks of them is stated here.
_REF = {"type": "string", "pattern": rules.anchored(rules.REF_PATTERN)}
_RELEASE = {
    "properties": {
        "model": {"properties": {"ref": _REF}},
        "prompt": {"anyOf": [{"type": "null"}, {"properties": {"ref": _REF}}]},
    }
}
_ROUTE_NAMES = {"pattern": rules.anchored(rules.NAME_PATTERN)}
_SNAPSHOT = {
    "type": "object",
    "properties": {
        "routes": {
            "propertyNames": _ROUTE_NAMES,
            "additionalProperties": {
                "properties": {"releases": {"additionalProperties": _RELEASE}}
            },
        }
    },
}
_EXPORT = {"type": "object", "properties": {"routes": {"propertyNames": _ROUTE_NAMES}}}
RestoreBody = Annotated[
    RestoreIn,
    msgspec.Meta(
        extra_json_schema={
            "oneOf": [
                {
                    "required": ["export"],
                    "properties": {"export": _EXPORT, "snapshot": {"type": "null"}},
                },
                {
                    "required": ["snapshot"],
                    "properties": {"snapshot": _SNAPSHOT, "export": {"type": "null"}},
                },
            ]
        }
    ),
]


class RestoreOut(msgspec.Struct, frozen=True, kw_only=True):
    source: Literal["export", "snapshot"]
    epoch: DataEpoch  # the data epoch Redis holds now
    was_lost: str | None  # why Redis had lost its data, when it had
    routes: dict[str, int]  # route -> its revision after the restore
    providers: int
    prompt_versions: int
    model_versions: int
    windows: int
    reviews: int  # open review items
    webhooks: int


async def _floors(store: Store, routes: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    """The highest revision of each route anyone holds: Redis now, or a gateway that reported
    it in the data-lost marker; and the marker's fields."""
    found = await homes.all_groups(store.redis)
    async with store.redis.pipeline(transaction=False) as pipe:
        for name in routes:
            pipe.get(keys.route_state(name, found.get(name)))
        pipe.hgetall(keys.DATA_LOST)
        replies = await pipe.execute()
    marker = {text(k): text(v) for k, v in replies[-1].items()}
    floors = {
        name: _state_decoder.decode(raw).revision
        for name, raw in zip(routes, replies[:-1], strict=True)
        if raw is not None
    }
    for field, value in marker.items():
        route = durability.route_of_revision_field(field)
        if route is not None and value.isdigit():
            floors[route] = max(floors.get(route, 0), int(value))
    return floors, marker


async def _refuse_over_live_data(store: Store, force: bool) -> str | None:
    """Why Redis lost its data (None if it did not); Conflict over a healthy registry."""
    _, lost = await store.guard.state()
    if lost is not None or force:
        return lost
    async with store.redis.pipeline(transaction=False) as pipe:
        pipe.scard(keys.ROUTE_INDEX)
        pipe.hlen(keys.PROVIDERS)
        routes, providers = await pipe.execute()
    if routes or providers:
        raise Conflict(
            f"the registry holds {routes} route(s) and {providers} provider(s) and Redis did not "
            "lose its data: a restore would overwrite them; pass force to restore anyway",
            field="force",
            code="registry_not_empty",
        )
    return None


def _epoch(plan: Seed, marker: dict[str, str], current: DataEpoch | None) -> DataEpoch:
    """The epoch gateways held (the file's, else the marker's), so they recognise Redis again."""
    now = time.time()
    if plan.epoch is not None:
        return msgspec.structs.replace(plan.epoch, restored_at=now)
    held = marker.get(durability.LOST_EPOCH)
    if held:
        return DataEpoch(id=held, created_at=now, restored_at=now)
    if current is not None:
        return msgspec.structs.replace(current, restored_at=now)
    return msgspec.structs.replace(new_epoch(now), restored_at=now)


async def restore(store: Store, body: RestoreIn, *, actor: str) -> RestoreOut:
    now = datetime.now(UTC)
    was_lost = await _refuse_over_live_data(store, body.force)
    if body.export is not None:
        plan = seed.from_export(body.export)
    else:
        assert body.snapshot is not None
        plan = seed.from_snapshot(body.snapshot, actor, now)
    seed.check(plan, "export" if body.export is not None else "snapshot")
    floors, marker = await _floors(store, list(plan.routes))
    current, _ = await store.guard.state()
    epoch = _epoch(plan, marker, current)
    revisions: dict[str, int] = {}
    audit_max = store.audit_max_entries
    async with store.redis.pipeline(transaction=False) as pipe:  # keys of many slots
        for provider in plan.providers:
            pipe.hset(keys.PROVIDERS, provider.name, _encoder.encode(provider))
        for kind, records in (("prompt", plan.prompts), ("model", plan.models)):
            for name, numbered in records.items():
                for number, record in numbered.items():
                    pipe.hsetnx(keyspace.versions(kind, name), str(number), _encoder.encode(record))
                    pipe.hsetnx(keyspace.content_index(kind, name), record.content_hash, number)
        for name, route in plan.routes.items():
            revision = max(route.state.revision, floors.get(name, 0)) + 1
            revisions[name] = revision
            _write_route(
                pipe,
                name,
                route,
                revision,
                actor=actor,
                reason=body.reason,
                audit_max_entries=audit_max,
            )
        _write_operations(pipe, plan, actor=actor, reason=body.reason, audit_max=audit_max)
        pipe.xadd(
            keyspace.PROVIDERS_AUDIT,
            {
                "provider": "*",
                "action": "registry.restore",
                "actor": actor,
                "reason": body.reason,
                "before": "",
                "after": _encoder.encode({"epoch": epoch.id, "routes": revisions}),
            },
            maxlen=store.audit_max_entries,
            approximate=True,
        )
        await pipe.execute()
    # The commit point, last: a restore that fails before it leaves Redis marked as lost, and
    # running it again completes it (every write above is idempotent, audit entries aside).
    await store.redis.set(keys.EPOCH, epoch_encoder.encode(epoch))
    await store.redis.delete(keys.DATA_LOST)
    store.guard.seen = epoch
    await store.redis.publish(keys.CHANGES_CHANNEL, event_encoder.encode(ProvidersChanged()))
    for name, revision in revisions.items():
        event = RouteChanged(route=name, revision=revision)
        await store.redis.publish(keys.CHANGES_CHANNEL, event_encoder.encode(event))
    return RestoreOut(
        source="export" if body.export is not None else "snapshot",
        epoch=epoch,
        was_lost=was_lost,
        routes=revisions,
        providers=len(plan.providers),
        prompt_versions=sum(len(v) for v in plan.prompts.values()),
        model_versions=sum(len(v) for v in plan.models.values()),
        windows=len(plan.windows),
        reviews=sum(len(v) for v in plan.reviews.values()),
        webhooks=len(plan.webhooks),
    )


def _write_operations(
    pipe: Pipeline, plan: Seed, *, actor: str, reason: str, audit_max: int
) -> None:
    """Windows (each audited as restored), open review items (never over one in Redis: it may
    have been acknowledged since) and webhook subscriptions."""
    for window in plan.windows:
        after = _encoder.encode(window)
        pipe.hset(keyspace.WINDOWS, window.name, after)
        entry: dict[str, str | bytes] = {"window": window.name, "action": "window.restore"}
        entry |= {"actor": actor, "reason": reason, "before": "", "after": after}
        pipe.xadd(keyspace.WINDOWS_AUDIT, entry, maxlen=audit_max, approximate=True)  # type: ignore[arg-type]
    for route, items in plan.reviews.items():
        record = plan.routes.get(route)
        group = record.state.group if record is not None else None  # its home: `_write_route`
        for item in items:
            stored = review_encoder.encode(msgspec.structs.replace(item, id=""))
            pipe.hsetnx(keyspace.reviews(route, group), item.id, stored)
    for hook in plan.webhooks:
        pipe.hset(outbox.WEBHOOKS, hook.name, _encoder.encode(hook))


def _write_route(
    pipe: Pipeline,
    name: str,
    route: RouteRecord,
    revision: int,
    *,
    actor: str,
    reason: str,
    audit_max_entries: int,
) -> None:
    state_json = _encoder.encode(msgspec.structs.replace(route.state, revision=revision))
    # A grouped route goes back into its group's slot (`keys.route_home`); its own slot is
    # cleared and marked, as after a move (`control.groups.move`).
    group = route.state.group
    if group is None:
        pipe.hdel(keys.ROUTE_HOMES, name)
        pipe.delete(keys.route_moved(name))
    else:
        pipe.delete(keys.route_state(name))
        pipe.set(keys.route_moved(name), f"moved:{group}")
        pipe.delete(keys.route_moved(name, group))
        pipe.hset(keys.ROUTE_HOMES, name, group)
    pipe.set(keys.route_state(name, group), state_json)
    for release_id, spec in route.releases.items():
        pipe.hsetnx(keys.route_releases(name, group), release_id, _encoder.encode(spec))
    for release_id, meta in route.meta.items():
        pipe.hsetnx(keyspace.release_meta(name, group), release_id, _encoder.encode(meta))
    pipe.sadd(keys.ROUTE_INDEX, name)
    pipe.hdel(keys.DELETED_ROUTES, name)  # restored: no longer deleted
    pipe.xadd(
        keys.route_audit(name, group),
        {
            "route": name,
            "action": "route.restore",
            "actor": actor,
            "reason": reason,
            "revision": str(revision),
            "before": "",
            "after": state_json,
        },
        maxlen=audit_max_entries,
        approximate=True,
    )

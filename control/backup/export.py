"""The export: the whole registry as one JSON document (`turnout export`, `GET /admin/export`).

Providers, every prompt and model version with its metadata, every route with its state,
revision, releases and release metadata, the windows, the open review items, the webhook
subscriptions, and optionally the audit trail. Reads only.

No secret is in it: a webhook subscription holds only the name of the control plane's
environment variable with its signing secret (like a provider's key), never the secret.
"""

from datetime import datetime
from typing import Annotated, Literal, TypeVar

import msgspec

from control import homes, keyspace
from control.durations import Time
from control.errors import NotFound
from control.notify import outbox
from control.notify.model import Webhook
from control.registry.models import ModelRecord
from control.registry.prompts import PromptRecord
from control.registry.releases import ReleaseMeta
from control.reviews import store as reviews
from control.reviews.model import Review
from control.routes import audit, views
from control.routes.audit import AuditEntry
from control.store import Store, text
from control.windows import store as windows
from control.windows.model import Window
from gateway.contract import keys
from gateway.contract.durability import DataEpoch, epoch_decoder
from gateway.contract.snapshot import ProviderSpec, ReleaseSpec, RouteState

FORMAT = "turnout-export"
# A version number as a JSON object key: the integers the decoder accepts, stated in the schema.
_NUMBER_KEYS = msgspec.Meta(
    extra_json_schema={"propertyNames": {"pattern": "^-?(?:0|[1-9][0-9]{0,17})$"}}
)
T = TypeVar("T")


class RouteRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    state: RouteState  # with its revision; a restore numbers above it
    releases: dict[str, ReleaseSpec]
    meta: dict[str, ReleaseMeta]  # author, note and time of each release


class RegistryExport(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    format: Literal["turnout-export"] = "turnout-export"
    format_version: Literal[1, 2] = 2  # 2 added windows, reviews and webhooks (1 has none)
    exported_at: Time
    epoch: DataEpoch | None  # the registry's life it was taken from
    providers: list[ProviderSpec]
    prompts: dict[str, Annotated[dict[int, PromptRecord], _NUMBER_KEYS]]  # name -> number -> record
    models: dict[str, Annotated[dict[int, ModelRecord], _NUMBER_KEYS]]
    routes: dict[str, RouteRecord]
    windows: list[Window] = []  # freeze and release windows, global or per route
    reviews: dict[str, list[Review]] = {}  # route -> its open needs-review items (with ids)
    webhooks: list[Webhook] = []  # subscriptions: each names its secret's variable, no secret
    audit: list[AuditEntry] | None = None  # for the record: a restore does not replay it


class ExportQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    audit: bool = False  # include every audit entry (routes and providers), oldest first


_prompt_decoder = msgspec.json.Decoder(PromptRecord)
_model_decoder = msgspec.json.Decoder(ModelRecord)
_provider_decoder = msgspec.json.Decoder(ProviderSpec)


async def _versions(
    store: Store, kind: str, decoder: msgspec.json.Decoder[T]
) -> dict[str, dict[int, T]]:
    prefix, suffix = f"{keys.PREFIX}:{{{kind}:", "}:versions"
    found: dict[str, dict[int, T]] = {}
    async for raw_key in store.redis.scan_iter(match=f"{prefix}*{suffix}", count=500):
        key = text(raw_key)
        name = key[len(prefix) : -len(suffix)]
        raw = await store.redis.hgetall(key)
        records = {int(text(n)): decoder.decode(blob) for n, blob in raw.items()}
        found[name] = dict(sorted(records.items()))
    return dict(sorted(found.items()))


async def _audit(store: Store, routes: list[str]) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    found = await homes.all_groups(store.redis)
    streams = [keys.route_audit(name, found.get(name)) for name in routes]
    for key in [*streams, keyspace.PROVIDERS_AUDIT]:
        raw: list[tuple[bytes, dict[bytes, bytes]]] = await store.redis.xrange(key)  # type: ignore[assignment]
        entries.extend(audit.decode_entry(entry_id, fields) for entry_id, fields in raw)
    return sorted(entries, key=lambda e: tuple(int(p) for p in e.id.split("-")))


async def export(store: Store, *, with_audit: bool, now: datetime) -> RegistryExport:
    raw_epoch = await store.redis.get(keys.EPOCH)
    providers = sorted(
        (_provider_decoder.decode(b) for b in (await store.redis.hgetall(keys.PROVIDERS)).values()),
        key=lambda p: p.name,
    )
    names = sorted(text(n) for n in await store.redis.smembers(keys.ROUTE_INDEX))
    routes: dict[str, RouteRecord] = {}
    for name in names:
        try:
            data = await views.read(store, name)
        except NotFound:  # indexed before its creating script ran
            continue
        routes[name] = RouteRecord(state=data.state, releases=data.releases, meta=data.meta)
    return RegistryExport(
        exported_at=now,
        epoch=epoch_decoder.decode(raw_epoch) if raw_epoch is not None else None,
        providers=providers,
        prompts=await _versions(store, "prompt", _prompt_decoder),
        models=await _versions(store, "model", _model_decoder),
        routes=routes,
        windows=await windows.load(store.redis),
        reviews={n: found for n in routes if (found := await reviews.read(store, n, "open"))},
        webhooks=await outbox.load_webhooks(store.redis),
        audit=await _audit(store, list(routes)) if with_audit else None,
    )

"""Model versions: immutable `name@N` = provider + upstream model + default params + prices.

Like prompts, posting content identical to an existing version returns that version.
"""

from datetime import datetime
from typing import Annotated, Any

import msgspec

from control.durations import Time
from control.errors import UNKNOWN_REFERENCE, BadInput, NotFound
from control.registry import providers, rules, versions
from control.store import Store
from gateway.contract.snapshot import ModelSpec

KIND = "model"

Price = Annotated[float, msgspec.Meta(ge=0)]


class ModelIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    provider: rules.Name
    upstream_model: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    params: rules.Params = {}  # defaults; the caller's fields and the release's params win
    input_usd_per_mtok: Price = 0.0  # USD per million input tokens
    output_usd_per_mtok: Price = 0.0
    note: str = ""


class ModelRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Stored under `keyspace.versions("model", name)`; the version number is the hash field."""

    provider: str
    upstream_model: str
    params: dict[str, Any]
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    content_hash: str
    author: str
    note: str
    created_at: Time


class ModelVersion(ModelRecord, frozen=True, kw_only=True):
    """A version as the admin API returns it: the stored record plus its identity."""

    ref: str  # "name@N"
    name: str
    version: int
    created: bool = False  # True only in the answer to the call that created it


_decoder = msgspec.json.Decoder(ModelRecord)
_encoder = msgspec.json.Encoder()


def validate(name: str, body: ModelIn) -> None:
    """Pure checks of a new version (the provider's existence is checked against Redis)."""
    rules.check_name("name", name)
    rules.check_name("provider", body.provider)
    rules.check_params("params", body.params)


async def create(
    store: Store, name: str, body: ModelIn, *, actor: str, now: datetime
) -> ModelVersion:
    validate(name, body)
    if body.provider not in await providers.names(store):
        raise BadInput(
            f"provider: unknown provider {body.provider!r}",
            field="provider",
            code=UNKNOWN_REFERENCE,
        )
    content = [
        body.provider,
        body.upstream_model,
        body.params,
        body.input_usd_per_mtok,
        body.output_usd_per_mtok,
    ]
    record = ModelRecord(
        provider=body.provider,
        upstream_model=body.upstream_model,
        params=body.params,
        input_usd_per_mtok=body.input_usd_per_mtok,
        output_usd_per_mtok=body.output_usd_per_mtok,
        content_hash=versions.content_hash(content),
        author=actor,
        note=body.note,
        created_at=now,
    )
    number, created = await store.put_version(
        KIND, name, record.content_hash, _encoder.encode(record)
    )
    if not created:
        existing = await versions.read_one(store, KIND, name, number, _decoder)
        assert existing is not None  # versions are never deleted
        record = existing
    return versions.view(ModelVersion, name, number, record, created)


async def list_versions(store: Store, name: str) -> list[ModelVersion]:
    records = await versions.read_all(store, KIND, name, _decoder)
    if not records:
        raise NotFound(f"model {name!r} has no versions", field="name")
    return [versions.view(ModelVersion, name, number, record) for number, record in records.items()]


async def resolve(store: Store, field: str, ref: str) -> ModelSpec:
    """The model version `ref` as a release embeds it; BadInput naming `field` if unknown."""
    name, version = rules.parse_ref(field, ref)
    record = await versions.read_one(store, KIND, name, version, _decoder)
    if record is None:
        raise BadInput(
            f"{field}: unknown model version {ref!r}", field=field, code=UNKNOWN_REFERENCE
        )
    return ModelSpec(
        ref=ref,
        provider=record.provider,
        upstream_model=record.upstream_model,
        params=record.params,
        input_usd_per_mtok=record.input_usd_per_mtok,
        output_usd_per_mtok=record.output_usd_per_mtok,
    )

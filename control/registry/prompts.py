"""Prompt versions: immutable `name@N` templates with their parsed variables.

Posting content identical to an existing version returns that version; nothing can change a
version once written (there is no endpoint or function for it).
"""

from datetime import datetime

import msgspec

from control.durations import Time
from control.errors import UNKNOWN_REFERENCE, BadInput, NotFound
from control.registry import rules, versions
from control.store import Store
from gateway.contract.snapshot import PromptMessage, PromptSpec

KIND = "prompt"


class PromptIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A new prompt version. `variables`, when given, must match the template's placeholders."""

    system: str | None = None
    messages: list[PromptMessage] = []
    variables: list[str] | None = None
    note: str = ""


class PromptRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Stored under `keyspace.versions("prompt", name)`; the version number is the hash field."""

    system: str | None
    messages: list[PromptMessage]
    variables: list[str]
    content_hash: str
    author: str
    note: str
    created_at: Time


class PromptVersion(PromptRecord, frozen=True, kw_only=True):
    """A version as the admin API returns it: the stored record plus its identity."""

    ref: str  # "name@N"
    name: str
    version: int
    created: bool = False  # True only in the answer to the call that created it


_decoder = msgspec.json.Decoder(PromptRecord)
_encoder = msgspec.json.Encoder()


def validate(name: str, body: PromptIn) -> list[str]:
    """Pure checks of a new version; returns its variables."""
    rules.check_name("name", name)
    return rules.prompt_variables(body.system, body.messages, body.variables)


async def create(
    store: Store, name: str, body: PromptIn, *, actor: str, now: datetime
) -> PromptVersion:
    variables = validate(name, body)
    record = PromptRecord(
        system=body.system,
        messages=body.messages,
        variables=variables,
        content_hash=versions.content_hash([body.system, body.messages]),
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
    return versions.view(PromptVersion, name, number, record, created)


async def list_versions(store: Store, name: str) -> list[PromptVersion]:
    records = await versions.read_all(store, KIND, name, _decoder)
    if not records:
        raise NotFound(f"prompt {name!r} has no versions", field="name")
    return [
        versions.view(PromptVersion, name, number, record) for number, record in records.items()
    ]


async def get_version(store: Store, name: str, version: int) -> PromptVersion:
    record = await versions.read_one(store, KIND, name, version, _decoder)
    if record is None:
        raise NotFound(f"prompt version {name}@{version} does not exist", field="version")
    return versions.view(PromptVersion, name, version, record)


async def resolve(store: Store, field: str, ref: str) -> PromptSpec:
    """The prompt version `ref` as a release embeds it; BadInput naming `field` if unknown."""
    name, version = rules.parse_ref(field, ref)
    record = await versions.read_one(store, KIND, name, version, _decoder)
    if record is None:
        raise BadInput(
            f"{field}: unknown prompt version {ref!r}", field=field, code=UNKNOWN_REFERENCE
        )
    return PromptSpec(
        ref=ref, system=record.system, messages=record.messages, variables=record.variables
    )

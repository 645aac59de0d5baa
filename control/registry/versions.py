"""Immutable numbered versions of prompts and models, stored as `number -> record JSON`.

Shared by `registry.prompts` and `registry.models`: content hashing, and reading one or all
versions. Writing goes through `Store.put_version` (atomic, idempotent on content).
"""

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from control import keyspace
from control.store import Store, text

T = TypeVar("T")
V = TypeVar("V")

_canonical = msgspec.json.Encoder(order="sorted")


def content_hash(content: Any) -> str:
    """sha256 of the canonical JSON (sorted keys) of the content that defines a version."""
    return "sha256:" + hashlib.sha256(_canonical.encode(content)).hexdigest()


async def read_all(
    store: Store, kind: str, name: str, decoder: msgspec.json.Decoder[T]
) -> dict[int, T]:
    raw = await store.redis.hgetall(keyspace.versions(kind, name))
    records = {int(text(number)): decoder.decode(blob) for number, blob in raw.items()}
    return dict(sorted(records.items()))


async def read_one(
    store: Store, kind: str, name: str, version: int, decoder: msgspec.json.Decoder[T]
) -> T | None:
    blob = await store.redis.hget(keyspace.versions(kind, name), str(version))
    return None if blob is None else decoder.decode(blob)


def view(
    view_type: Callable[..., V],
    name: str,
    version: int,
    record: msgspec.Struct,
    created: bool = False,
) -> V:
    """A stored record as the admin API returns it: its fields plus `ref`, `name`, `version`."""
    return view_type(
        ref=f"{name}@{version}",
        name=name,
        version=version,
        created=created,
        **msgspec.structs.asdict(record),
    )

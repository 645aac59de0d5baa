"""Telling a Redis that lost its data from a fresh or changed one, for the sync task.

Reads the data epoch, the data-lost marker and the audited deletions in one round trip, and leaves
the marker (with the revisions this process serves, so a restore can number above them). Called
only from the sync task, never on the request path.
"""

import os
import socket
import time

import msgspec
import redis.asyncio as aioredis

from gateway.contract import durability, keys
from gateway.contract.durability import DataEpoch
from gateway.contract.snapshot import Snapshot

LOST_MESSAGE = (
    "Redis lost its data (%s): serving the last known good snapshot (%d routes) and leaving "
    "its file as it is until an operator runs `turnout restore`"
)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Durability(msgspec.Struct, frozen=True):
    epoch: DataEpoch | None  # what Redis holds now
    marker: str | None  # the data-lost marker's reason, when one was left
    deleted: frozenset[str]  # routes deleted by an audited deletion


async def read_durability(redis: aioredis.Redis) -> Durability:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.EPOCH)
        pipe.hget(keys.DATA_LOST, durability.LOST_REASON)
        pipe.hkeys(keys.DELETED_ROUTES)
        raw_epoch, raw_reason, raw_deleted = await pipe.execute()
    marker = _text(raw_reason) if raw_reason is not None else None
    epoch: DataEpoch | None = None
    if raw_epoch is not None:
        try:
            epoch = durability.epoch_decoder.decode(raw_epoch)
        except msgspec.DecodeError as error:
            marker = marker or f"the data epoch in Redis does not decode ({error})"
    return Durability(epoch, marker, frozenset(_text(name) for name in raw_deleted))


def process_name() -> str:
    return f"gateway {socket.gethostname()}:{os.getpid()}"


async def leave_marker(redis: aioredis.Redis, reason: str, served: Snapshot) -> None:
    """The first detector's account stays (HSETNX); every detector adds what it serves."""
    name = process_name()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(keys.DATA_LOST, durability.LOST_REASON, reason)
        pipe.hsetnx(keys.DATA_LOST, durability.LOST_AT, str(time.time()))
        pipe.hsetnx(keys.DATA_LOST, durability.LOST_BY, name)
        if served.epoch is not None:
            pipe.hsetnx(keys.DATA_LOST, durability.LOST_EPOCH, served.epoch.id)
        revisions = {
            durability.revision_field(route, name): snapshot.state.revision
            for route, snapshot in served.routes.items()
        }
        if revisions:
            pipe.hset(keys.DATA_LOST, mapping=revisions)  # type: ignore[arg-type]
        await pipe.execute()


def merged(read: Snapshot, current: Snapshot, found: Durability) -> tuple[Snapshot, list[str]]:
    """What Redis holds plus the served routes and providers it lacks without a deletion (also
    after a restore from an older backup: only an audited deletion drops a route), and the
    names of the routes kept that way."""
    kept = {
        name: route
        for name, route in current.routes.items()
        if name not in read.routes and name not in found.deleted
    }
    snapshot = Snapshot(
        routes={**kept, **read.routes},
        providers={**current.providers, **read.providers},
        epoch=found.epoch,
    )
    return snapshot, sorted(kept)

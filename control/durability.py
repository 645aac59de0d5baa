"""The control plane's side of the data epoch: initialise it on a fresh registry, refuse changes
(503 naming the cause) while Redis lost its data, and leave the data-lost marker when this process
sees its epoch vanish. `Store` runs the check before every write; reads are never refused.
"""

import logging
import secrets
import time

import msgspec
import redis.asyncio as aioredis

from control.errors import ControlError
from gateway.contract import durability, keys
from gateway.contract.durability import DataEpoch, epoch_decoder, epoch_encoder, loss_reason

log = logging.getLogger("turnout.control")

RESTORE_HINT = "run `turnout restore --from <a gateway's snapshot.json or an export>`"


class DataLost(ControlError):
    """Redis lost its data: changes would build a new registry over the lost one."""

    status = 503
    code = "redis_data_lost"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Redis lost its data ({reason}); changes are refused until it is restored: "
            f"{RESTORE_HINT}"
        )


def new_epoch(now_s: float) -> DataEpoch:
    return DataEpoch(id=secrets.token_hex(8), created_at=now_s)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class EpochGuard:
    """Remembers the epoch this process saw; owned by the `Store`."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.seen: DataEpoch | None = None

    async def state(self) -> tuple[DataEpoch | None, str | None]:
        """The epoch in Redis and, when Redis lost its data, why."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.EPOCH)
            pipe.hget(keys.DATA_LOST, durability.LOST_REASON)
            raw_epoch, raw_reason = await pipe.execute()
        if raw_reason is not None:
            return None, _text(raw_reason)
        try:
            current = epoch_decoder.decode(raw_epoch) if raw_epoch is not None else None
        except msgspec.DecodeError as error:
            return None, f"the data epoch in Redis does not decode ({error})"
        return current, loss_reason(self.seen, current)

    async def check(self) -> DataEpoch:
        """The current epoch (initialised on a fresh registry); DataLost when Redis lost data."""
        current, reason = await self.state()
        if reason is not None:
            if self.seen is not None:
                await self.mark(reason)
            raise DataLost(reason)
        if current is None:
            fresh = new_epoch(time.time())
            if await self.redis.set(keys.EPOCH, epoch_encoder.encode(fresh), nx=True):
                log.info("initialised the registry's data epoch %s", fresh.id)
                current = fresh
            else:  # another control plane initialised it first
                current, reason = await self.state()
                if current is None or reason is not None:
                    raise DataLost(reason or "the data epoch vanished while it was initialised")
        self.seen = current
        return current

    async def mark(self, reason: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(keys.DATA_LOST, durability.LOST_REASON, reason)
            pipe.hsetnx(keys.DATA_LOST, durability.LOST_AT, str(time.time()))
            pipe.hsetnx(keys.DATA_LOST, durability.LOST_BY, "control-plane")
            if self.seen is not None:
                pipe.hsetnx(keys.DATA_LOST, durability.LOST_EPOCH, self.seen.id)
            await pipe.execute()
        log.error("Redis lost its data (%s): changes are refused until a restore", reason)

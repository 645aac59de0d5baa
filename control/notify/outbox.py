"""The webhook outbox in Redis: subscriptions, deliveries (the delivery log) and per-queue order.

Every key carries the `{webhooks}` hash tag (one slot), so each step of the worker is one fenced
script call (`outbox_write.lua`): an event is queued together with the audit cursor that produced
it, exactly once, and only while the worker's lease still holds its fencing token. Flips never
touch these keys; the delivery worker fills them from the audit streams afterwards.
"""

from typing import Any

import msgspec
import redis.asyncio as aioredis

from control.errors import NotFound
from control.notify.model import Delivery, Webhook
from control.store import Store, text
from gateway.contract.keys import PREFIX

TAG = f"{PREFIX}:{{webhooks}}"
WEBHOOKS = f"{TAG}:subs"  # hash: name -> Webhook JSON
DELIVERIES = f"{TAG}:deliveries"  # hash: delivery id -> Delivery JSON (the delivery log)
INDEX = f"{TAG}:index"  # sorted set: delivery id by creation time, to trim the log
QUEUES = f"{TAG}:queues"  # set of queue names with pending deliveries
CURSORS = f"{TAG}:cursors"  # hash: audit stream key -> last entry id turned into events
OPEN_WINDOWS = f"{TAG}:open_windows"  # hash: freeze window seen open -> its Window JSON
LEASE = f"{TAG}:worker"  # string: "<fencing token>:<replica>" delivering now
TOKENS = f"{TAG}:worker:tokens"  # counter of the worker lease's fencing tokens
LOG_LIMIT = 10_000  # finished deliveries kept in the log
LIST_CHUNK = 500  # delivery records read per round trip when listing

_webhook = msgspec.json.Decoder(Webhook)
_delivery = msgspec.json.Decoder(Delivery)
_encoder = msgspec.json.Encoder()


def queue_key(queue: str) -> str:
    return f"{TAG}:q:{queue}"


async def load_webhooks(redis: aioredis.Redis) -> list[Webhook]:
    raw: dict[Any, Any] = await redis.hgetall(WEBHOOKS)
    return sorted((_webhook.decode(v) for v in raw.values()), key=lambda w: w.name)


async def put_webhook(redis: aioredis.Redis, webhook: Webhook) -> bool:
    return bool(await redis.hset(WEBHOOKS, webhook.name, _encoder.encode(webhook)))


async def delete_webhook(redis: aioredis.Redis, name: str) -> None:
    if not await redis.hdel(WEBHOOKS, name):
        raise NotFound(f"webhook {name!r} does not exist", field="name")


class Fenced(Exception):
    """The worker's lease no longer holds its token: another worker delivers now."""


class Writes:
    """The commands of one fenced outbox write; keys are passed by index (Cluster-safe)."""

    def __init__(self) -> None:
        self.keys: list[str] = [LEASE]
        self.args: list[Any] = []

    def add(self, command: str, key: str, *args: Any) -> None:
        if key not in self.keys:
            self.keys.append(key)
        self.args += [command, self.keys.index(key) + 1, len(args), *args]

    async def apply(self, store: Store, holder: str) -> None:
        if not self.args:
            return
        current = await store.outbox_write(holder, self.keys, self.args)
        if current is not None:
            raise Fenced(f"lease held by {current or 'nobody'}, not {holder}")


async def enqueue(
    store: Store,
    holder: str,
    deliveries: list[Delivery],
    *,
    cursor: tuple[str, str] | None = None,
    open_windows: dict[str, bytes] | None = None,
) -> None:
    """Queue deliveries and move the audit cursor (or the open-window set) in one step."""
    writes = Writes()
    for delivery in deliveries:
        writes.add("HSETNX", DELIVERIES, delivery.id, _encoder.encode(delivery))
        writes.add("ZADD", INDEX, delivery.created_at, delivery.id)
        writes.add("RPUSH", queue_key(delivery.queue), delivery.id)
        writes.add("SADD", QUEUES, delivery.queue)
    if cursor is not None:
        writes.add("HSET", CURSORS, cursor[0], cursor[1])
    if open_windows is not None:
        writes.add("DEL", OPEN_WINDOWS)
        if open_windows:
            writes.add("HSET", OPEN_WINDOWS, *(x for pair in open_windows.items() for x in pair))
    await writes.apply(store, holder)


async def heads(store: Store, holder: str) -> list[Delivery]:
    """The first pending delivery of every queue (only these may be attempted: order)."""
    redis = store.redis
    queues = sorted(text(q) for q in await redis.smembers(QUEUES))
    found: list[Delivery] = []
    for queue in queues:
        head = await redis.lindex(queue_key(queue), 0)
        if head is None:
            writes = Writes()
            writes.add("SREM", QUEUES, queue)
            await writes.apply(store, holder)
            continue
        raw = await redis.hget(DELIVERIES, text(head))
        if raw is None:  # trimmed from the log: drop it from the queue
            writes = Writes()
            writes.add("LREM", queue_key(queue), 1, head)
            await writes.apply(store, holder)
            continue
        found.append(_delivery.decode(raw))
    return found


async def save(store: Store, holder: str, delivery: Delivery, *, finished: bool) -> None:
    """Store an attempt's outcome; a finished delivery (delivered or dead) leaves its queue."""
    writes = Writes()
    writes.add("HSET", DELIVERIES, delivery.id, _encoder.encode(delivery))
    if finished:
        writes.add("LREM", queue_key(delivery.queue), 1, delivery.id)
    await writes.apply(store, holder)
    if finished:
        await _trim(store, holder)


async def _trim(store: Store, holder: str) -> None:
    redis = store.redis
    excess = await redis.zcard(INDEX) - LOG_LIMIT
    if excess <= 0:
        return
    oldest = [text(i) for i in await redis.zrange(INDEX, 0, excess - 1)]  # type: ignore[arg-type]
    writes = Writes()
    for delivery_id in oldest:
        raw = await redis.hget(DELIVERIES, delivery_id)
        if raw is not None and _delivery.decode(raw).status == "pending":
            continue  # never drop what is still to be delivered
        writes.add("HDEL", DELIVERIES, delivery_id)
        writes.add("ZREM", INDEX, delivery_id)
    await writes.apply(store, holder)


async def read(redis: aioredis.Redis, delivery_id: str) -> Delivery:
    raw = await redis.hget(DELIVERIES, delivery_id)
    if raw is None:
        raise NotFound(f"delivery {delivery_id!r} does not exist", field="id")
    return _delivery.decode(raw)


async def listing(
    redis: aioredis.Redis, webhook: str | None, status: str | None, limit: int
) -> list[Delivery]:
    """The newest deliveries matching the filters, oldest first (read in chunks of ids)."""
    ids = [text(i) for i in await redis.zrevrange(INDEX, 0, -1)]  # type: ignore[arg-type]
    found: list[Delivery] = []
    for start in range(0, len(ids), LIST_CHUNK):
        chunk = ids[start : start + LIST_CHUNK]
        for raw in await redis.hmget(DELIVERIES, chunk):
            if raw is None:
                continue
            delivery = _delivery.decode(raw)
            if (webhook is None or delivery.webhook == webhook) and (
                status is None or delivery.status == status
            ):
                found.append(delivery)
                if len(found) >= limit:
                    return found[::-1]
    return found[::-1]


async def redeliver(redis: aioredis.Redis, delivery_id: str, now_s: float) -> Delivery:
    """Queue a delivery again (a dead letter, or a delivered one to replay), at its queue's end."""
    delivery = await read(redis, delivery_id)
    delivery.status, delivery.attempts, delivery.next_at = "pending", 0, now_s
    delivery.log = [*delivery.log, f"{now_s:.3f} redelivery requested"]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(DELIVERIES, delivery.id, _encoder.encode(delivery))
        pipe.lrem(queue_key(delivery.queue), 0, delivery.id)
        pipe.rpush(queue_key(delivery.queue), delivery.id)
        pipe.sadd(QUEUES, delivery.queue)
        await pipe.execute()
    return delivery

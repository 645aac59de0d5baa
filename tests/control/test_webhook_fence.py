"""The webhook worker's lease is fenced: two workers on one real Redis, the first one's lease
expires and the second takes over; every write the stale worker still tries (marking a delivery,
queueing events, moving cursors) is refused, and the new holder delivers."""

import asyncio
from datetime import UTC, datetime

import pytest
from redis.exceptions import ResponseError

from control.notify import outbox
from control.notify.model import Event, WebhookIn, build
from control.notify.worker import Deliverer
from control.store import Store
from tests.control.conftest import SECRET


def worker(store: Store) -> Deliverer:
    return Deliverer(store, poll_s=0.05, retry_base_s=0.05, retry_max_s=0.1)


async def test_a_worker_that_lost_its_lease_writes_nothing(redis, receiver, http, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    recorder, url = receiver
    store = Store(redis)
    hook = build("ops", WebhookIn(url=url, secret_env="HOOK_SECRET"), "olga")
    await outbox.put_webhook(redis, hook)
    a, b = worker(store), worker(store)
    a.session = b.session = http

    holder_a = await a._lease()
    assert holder_a is not None and a.token == 1
    assert await b._lease() is None  # one worker at a time
    event = Event(
        id="e1", type="weights.changed", time=datetime.now(UTC), route="r", actor="o", reason="x"
    )
    delivery = a._delivery(hook, event)
    await outbox.enqueue(store, holder_a, [delivery])  # the holder may write
    assert [d.id for d in await outbox.heads(store, holder_a)] == [delivery.id]

    await redis.pexpire(outbox.LEASE, 1)  # a pauses; its lease runs out
    await _expired(redis)
    with pytest.raises(outbox.Fenced, match="nobody"):  # even before anyone took over
        await outbox.save(store, holder_a, delivery, finished=True)
    holder_b = await b._lease()
    assert holder_b is not None and b.token == 2

    # a wakes up and finishes its attempt: sent, but marking it delivered is refused
    await a.attempt(delivery, hook, holder_a)
    assert len(recorder.requests) == 1 and a.token is None
    stored = await outbox.read(redis, delivery.id)
    assert stored.status == "pending" and stored.attempts == 0 and stored.log == []
    assert await redis.lrange(outbox.queue_key(delivery.queue), 0, -1) == [delivery.id.encode()]
    # nor may it queue events or move cursors
    with pytest.raises(outbox.Fenced, match=holder_b):
        await outbox.enqueue(store, holder_a, [a._delivery(hook, event)], cursor=("s", "1-0"))
    with pytest.raises(outbox.Fenced):
        await a.collect([hook], holder_a)
    assert await redis.hgetall(outbox.CURSORS) == {}
    await a.tick()  # its next tick sees the lease is b's and does nothing
    assert a.token is None and len(recorder.requests) == 1

    await b.tick()  # the holder delivers (the same delivery id again: receivers deduplicate)
    for _ in range(100):
        if (await outbox.read(redis, delivery.id)).status == "delivered":
            break
        await _sleep()
    stored = await outbox.read(redis, delivery.id)
    assert stored.status == "delivered" and stored.attempts == 1
    ids = [h["X-Turnout-Delivery"] for _, h, _, _ in recorder.requests]
    assert ids == [delivery.id, delivery.id]

    await redis.delete(outbox.LEASE)
    assert await a._lease() == f"3:{a.identity}"  # a new holder, a newer token


async def test_the_fenced_script_refuses_commands_it_does_not_know(redis):
    store = Store(redis)
    holder = await worker(store)._lease()
    assert holder is not None
    writes = outbox.Writes()
    writes.add("HSET", outbox.CURSORS, "s", "1-0")
    writes.add("SET", outbox.QUEUES, "x")
    with pytest.raises(ResponseError, match="refused command SET"):
        await writes.apply(store, holder)
    assert await redis.hgetall(outbox.CURSORS) == {}  # checked before the first write


async def _expired(redis) -> None:
    for _ in range(100):
        if not await redis.exists(outbox.LEASE):
            return
        await _sleep()
    raise AssertionError("the lease did not expire")


async def _sleep() -> None:
    await asyncio.sleep(0.01)

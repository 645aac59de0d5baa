"""Reading review items and acknowledging one, with its audit entry, in one transaction."""

from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from control import homes, keyspace
from control.errors import Conflict, NotFound
from control.reviews.model import Review, decoder, encoder
from control.store import Store, text
from gateway.contract import keys


def _order(review: Review) -> tuple[int, int]:
    milliseconds, _, sequence = review.id.partition("-")
    return int(milliseconds), int(sequence or 0)


async def read(store: Store, route: str, status: str = "open") -> list[Review]:
    group = await homes.group_of(store.redis, route)
    raw: dict[Any, Any] = await store.redis.hgetall(keyspace.reviews(route, group))
    found = [msgspec.structs.replace(decoder.decode(v), id=text(k)) for k, v in raw.items()]
    chosen = [r for r in found if status == "all" or r.status == status]
    return sorted(chosen, key=_order)


async def acknowledge(
    store: Store, route: str, review_id: str, *, actor: str, note: str, now: datetime
) -> Review:
    group = await homes.group_of(store.redis, route)
    hash_key, audit_key = keyspace.reviews(route, group), keys.route_audit(route, group)
    marker_key = keys.route_moved(route, group)
    done: list[Review] = []

    async def change(pipe: Pipeline) -> None:
        marker = await pipe.get(marker_key)  # watched: a move starting now retries this
        if marker is not None:
            raise homes.busy(route, text(marker))
        raw = await pipe.hget(hash_key, review_id)
        if raw is None:
            raise NotFound(f"review {review_id!r} of route {route!r} does not exist", field="id")
        review = msgspec.structs.replace(decoder.decode(raw), id=review_id)
        if review.status != "open":
            raise Conflict(
                f"review {review_id!r} was already acknowledged by {review.ack_by}",
                code="already_acknowledged",
            )
        acked = msgspec.structs.replace(
            review, status="acknowledged", ack_by=actor, ack_note=note, ack_at=now
        )
        pipe.multi()  # type: ignore[no-untyped-call]
        pipe.hset(hash_key, review_id, encoder.encode(msgspec.structs.replace(acked, id="")))
        pipe.xadd(
            audit_key,
            {
                "route": route,
                "action": "review.ack",
                "actor": actor,
                "reason": note,
                "evidence": encoder.encode({"review": review_id, "change": review.action}),
            },
            maxlen=store.audit_max_entries,
            approximate=True,
        )
        done.append(acked)

    await store.redis.transaction(change, hash_key, marker_key)
    return done[-1]


async def open_counts(store: Store) -> dict[str, int]:
    """Open review items per route (for the `turnout_open_reviews` metric)."""
    names = sorted(text(n) for n in await store.redis.smembers(keys.ROUTE_INDEX))
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = len(await read(store, name))
    return counts

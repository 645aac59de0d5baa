"""Windows in Redis: read them all, upsert or delete one together with its audit entry.

Each write is one MULTI/EXEC on keys sharing the `{windows}` hash tag, so a window never changes
without its audit entry. The window rules live in `model`; evaluation in `schedule`.
"""

from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from control import keyspace
from control.errors import NotFound
from control.store import Store, text
from control.windows.model import Window

_decoder = msgspec.json.Decoder(Window)
_encoder = msgspec.json.Encoder()


async def load(redis: aioredis.Redis) -> list[Window]:
    raw: dict[Any, Any] = await redis.hgetall(keyspace.WINDOWS)
    return sorted((_decoder.decode(v) for v in raw.values()), key=lambda w: w.name)


async def _write(
    store: Store, name: str, window: Window | None, *, action: str, actor: str, reason: str
) -> bytes | str | None:
    """Set (or delete when `window` is None) and audit in one transaction; the previous JSON."""
    previous: list[bytes | str | None] = []

    async def change(pipe: Pipeline) -> None:
        before = await pipe.hget(keyspace.WINDOWS, name)
        previous.append(before)
        if window is None and before is None:
            raise NotFound(f"window {name!r} does not exist", field="name")
        pipe.multi()  # type: ignore[no-untyped-call]
        after = _encoder.encode(window) if window is not None else b""
        if window is None:
            pipe.hdel(keyspace.WINDOWS, name)
        else:
            pipe.hset(keyspace.WINDOWS, name, after)
        pipe.xadd(
            keyspace.WINDOWS_AUDIT,
            {
                "window": name,
                "action": action,
                "actor": actor,
                "reason": reason,
                "before": before or b"",
                "after": after,
            },
            maxlen=store.audit_max_entries,
            approximate=True,
        )

    await store.redis.transaction(change, keyspace.WINDOWS)
    return previous[-1]


async def put(store: Store, window: Window, *, actor: str) -> bool:
    """Upsert; True when it created the window."""
    before = await _write(
        store, window.name, window, action="window.put", actor=actor, reason=window.reason
    )
    return before is None


async def delete(store: Store, name: str, *, actor: str, reason: str) -> Window:
    before = await _write(store, name, None, action="window.delete", actor=actor, reason=reason)
    assert before is not None  # _write raised NotFound otherwise
    return _decoder.decode(text(before))

"""The delivery worker: turns audit entries and window transitions into queued deliveries, and
sends them (signed, in order per webhook and route, retried with exponential backoff and jitter,
dead-lettered after the webhook's `max_attempts`).

Runs in the control plane, off every request path: a flip only appends its audit entry, and a
receiver that hangs holds only its own queue. One replica delivers at a time: a Redis lease
(`lease.lua`) taken with the next fencing token, and every outbox write carries it, so a worker
that lost the lease (paused, expired, taken over) is refused (`outbox_write.lua`).
"""

import asyncio
import logging
import os
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
from redis.exceptions import RedisError

from control import homes
from control.errors import ControlError
from control.impact.read import read_impact
from control.notify import outbox, sign
from control.notify.events import releases_with_traffic, route_events
from control.notify.model import Delivery, Event, Webhook
from control.routes import views
from control.routes.audit import decode_entry
from control.store import Store, text
from control.windows import store as windows
from control.windows.model import Window
from control.windows.schedule import is_open
from gateway.contract import keys

log = logging.getLogger("turnout.webhooks")
BATCH = 100  # audit entries read per stream and tick
IMPACT_WINDOW_S = 3600
_window_decoder = msgspec.json.Decoder(Window)
_encoder = msgspec.json.Encoder()


def backoff_s(attempts: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Delay before attempt `attempts + 1`: base * 2^(attempts-1), capped, times a jitter in
    [0.75, 1.25) so that retries of many receivers spread out yet always grow."""
    return float(min(cap_s, base_s * 2 ** (attempts - 1)) * (0.75 + 0.5 * rng.random()))


class Deliverer:
    def __init__(
        self,
        store: Store,
        *,
        poll_s: float,
        retry_base_s: float,
        retry_max_s: float,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.poll_s = poll_s
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.clock = clock
        self.rng = rng or random.Random()
        self.identity = secrets.token_hex(8)
        self.token: int | None = None  # the lease's fencing token while this worker holds it
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self.session: aiohttp.ClientSession | None = None
        self._stopping = False

    def stop(self) -> None:
        """Ask the loop to end (cancellation alone can be swallowed inside a Redis call)."""
        self._stopping = True

    async def run(self) -> None:
        self.session = aiohttp.ClientSession()
        try:
            while not self._stopping:
                try:
                    await self.tick()
                except (RedisError, OSError) as error:
                    log.warning("webhook worker: %s; retrying", error)
                except Exception:  # supervisor: a bad record must not stop every delivery
                    log.exception("webhook worker failed; retrying")
                await asyncio.sleep(self.poll_s)
        finally:
            for task in self.in_flight.values():
                task.cancel()
            await asyncio.gather(*self.in_flight.values(), return_exceptions=True)
            await self.session.close()

    async def tick(self) -> None:
        hooks = await outbox.load_webhooks(self.store.redis)
        if not hooks:  # nobody listens: write nothing, and start from "now" once someone does
            if self.in_flight:
                return
            await self.store.redis.delete(outbox.CURSORS, outbox.OPEN_WINDOWS)
            return
        holder = await self._lease()
        if holder is None:
            return
        try:
            await self.collect(hooks, holder)
            await self.windows(hooks, holder)
            await self.dispatch({h.name: h for h in hooks}, holder)
        except outbox.Fenced as error:
            self._lost(error)

    async def _lease(self) -> str | None:
        """Take or renew the lease: "<token>:<replica>", the fence every write carries."""
        ttl_ms = int(self.poll_s * 3000) + 1000
        token, held = await self.store.hold_lease(
            self.identity, ttl_ms, lease=(outbox.LEASE, outbox.TOKENS)
        )
        if not held:
            self.token = None
            return None
        self.token = token
        return f"{token}:{self.identity}"

    def _lost(self, error: outbox.Fenced) -> None:
        log.warning("webhook worker %s was fenced off: %s", self.identity, error)
        self.token = None

    # --- audit streams and windows -> outbox ------------------------------------------------

    async def _cursors(self, streams: list[str], holder: str) -> dict[str, str]:
        redis = self.store.redis
        raw: dict[Any, Any] = await redis.hgetall(outbox.CURSORS)
        cursors = {text(k): text(v) for k, v in raw.items()}
        if not cursors:  # the very first start: deliver from now on, not the whole history
            cursors["__started__"] = "1"
            for stream in streams:
                last: list[Any] = await redis.xrevrange(stream, count=1)  # type: ignore[assignment]
                cursors[stream] = text(last[0][0]) if last else "0-0"
            writes = outbox.Writes()
            writes.add("HSET", outbox.CURSORS, *(x for pair in cursors.items() for x in pair))
            await writes.apply(self.store, holder)
        return cursors

    async def collect(self, hooks: list[Webhook], holder: str) -> None:
        redis = self.store.redis
        names = sorted(text(n) for n in await redis.smembers(keys.ROUTE_INDEX))
        found = await homes.all_groups(redis)
        streams = [keys.route_audit(name, found.get(name)) for name in names]
        # A route that moved into its group's slot keeps its entry ids: its old cursor holds.
        moved = {keys.route_audit(n, found[n]): keys.route_audit(n) for n in names if n in found}
        cursors = await self._cursors(streams, holder)
        for stream in streams:
            start = cursors.get(stream) or cursors.get(moved.get(stream, stream), "0-0")
            entries: list[Any] = await redis.xrange(stream, min=f"({start}", count=BATCH)  # type: ignore[assignment]
            for entry_id, fields in entries:
                entry = decode_entry(entry_id, fields)
                deliveries = [
                    self._delivery(hook, event)
                    for event in route_events(entry)
                    for hook in hooks
                    if hook.wants(event.type, event.route)
                ]
                if deliveries:
                    reach = await self._impact(entry.route, releases_with_traffic(entry))
                    for delivery in deliveries:
                        delivery.event = msgspec.structs.replace(delivery.event, impact=reach)
                await outbox.enqueue(self.store, holder, deliveries, cursor=(stream, entry.id))

    async def _impact(self, route: str | None, releases: list[str]) -> list[dict[str, Any]]:
        if route is None or not releases:
            return []
        try:
            data = await views.read(self.store, route)
        except ControlError:
            return []
        now_s = int(self.clock())
        reach = []
        for release in releases:
            if release not in data.releases:
                continue
            found = await read_impact(
                self.store.redis, data, release, now_s - IMPACT_WINDOW_S, now_s
            )
            figures = found.release_figures
            reach.append(
                {
                    "release": release,
                    "window_s": IMPACT_WINDOW_S,
                    "calls": figures.calls,
                    "distinct_users": figures.distinct_users,
                    "errors": figures.errors,
                    "thumbs_down": figures.thumbs_down,
                    "cost_usd": figures.cost_usd,
                }
            )
        return reach

    async def windows(self, hooks: list[Webhook], holder: str) -> None:
        redis, now = self.store.redis, self.clock()
        at = datetime.fromtimestamp(now, tz=UTC)
        current = {
            w.name: w for w in await windows.load(redis) if w.kind == "freeze" and is_open(w, at)
        }
        raw: dict[Any, Any] = await redis.hgetall(outbox.OPEN_WINDOWS)
        before = {text(k): _window_decoder.decode(v) for k, v in raw.items()}
        changes = [("freeze.started", w) for n, w in current.items() if n not in before]
        changes += [("freeze.ended", w) for n, w in before.items() if n not in current]
        if not changes:
            return
        deliveries = []
        for kind, window in changes:
            event = Event(
                id=f"window:{window.name}:{kind}:{int(now)}",
                type=kind,
                time=at,
                route=window.route,
                actor=window.author,
                reason=window.reason,
                detail={"window": msgspec.to_builtins(window)},
            )
            deliveries += [self._delivery(h, event) for h in hooks if h.wants(kind, window.route)]
        opened = {name: _encoder.encode(w) for name, w in current.items()}
        await outbox.enqueue(self.store, holder, deliveries, open_windows=opened)

    def _delivery(self, hook: Webhook, event: Event) -> Delivery:
        now = self.clock()
        return Delivery(
            id=f"{hook.name}:{event.id}",
            webhook=hook.name,
            queue=f"{hook.name}/{event.route or '*'}",
            event=event,
            next_at=now,
            created_at=now,
        )

    # --- sending ------------------------------------------------------------------------------

    async def dispatch(self, hooks: dict[str, Webhook], holder: str) -> None:
        now = self.clock()
        for delivery in await outbox.heads(self.store, holder):
            if delivery.queue in self.in_flight or delivery.next_at > now:
                continue
            hook = hooks.get(delivery.webhook)
            task = asyncio.create_task(self.attempt(delivery, hook, holder))
            self.in_flight[delivery.queue] = task
            task.add_done_callback(self._finished(delivery.queue))

    def _finished(self, queue: str) -> Callable[[asyncio.Task[None]], None]:
        def forget(_task: asyncio.Task[None]) -> None:
            self.in_flight.pop(queue, None)

        return forget

    async def attempt(self, delivery: Delivery, hook: Webhook | None, holder: str) -> None:
        """One attempt; its outcome is stored only while `holder` still holds the lease (else
        the new holder sends the delivery again, under the same id: receivers deduplicate)."""
        try:
            await self._attempt(delivery, hook, holder)
        except outbox.Fenced as error:
            self._lost(error)

    async def _attempt(self, delivery: Delivery, hook: Webhook | None, holder: str) -> None:
        status, error = await self._send(delivery, hook)
        now = self.clock()
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = status, error
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", now
            delivery.log = [*delivery.log, f"{now:.3f} attempt {delivery.attempts}: {status}"]
            await outbox.save(self.store, holder, delivery, finished=True)
            return
        limit = hook.max_attempts if hook is not None else delivery.attempts
        line = f"{now:.3f} attempt {delivery.attempts}: {error}"
        if delivery.attempts >= limit:
            delivery.status = "dead"
            delivery.log = [*delivery.log, f"{line}; dead-lettered"]
            await outbox.save(self.store, holder, delivery, finished=True)
            return
        delay = backoff_s(delivery.attempts, self.retry_base_s, self.retry_max_s, self.rng)
        delivery.next_at = now + delay
        delivery.log = [*delivery.log, f"{line}; next in {delay:.3f}s"]
        await outbox.save(self.store, holder, delivery, finished=False)

    async def _send(
        self, delivery: Delivery, hook: Webhook | None
    ) -> tuple[int | None, str | None]:
        if hook is None:
            return None, f"webhook {delivery.webhook!r} was deleted"
        secret = os.environ.get(hook.secret_env)
        if not secret:
            return None, f"signing secret variable {hook.secret_env} is not set"
        body = sign.body(delivery.event, hook.format)
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "turnout-webhooks",
            "X-Turnout-Event": delivery.event.type,
            "X-Turnout-Delivery": delivery.id,
            "X-Turnout-Timestamp": str(timestamp),
            "X-Turnout-Signature": sign.signature(secret.encode(), timestamp, body),
        }
        assert self.session is not None
        try:
            async with self.session.post(
                hook.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=hook.timeout_s),
                allow_redirects=False,
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return response.status, None
                return response.status, f"HTTP {response.status}"
        except TimeoutError:
            return None, f"timed out after {hook.timeout_s}s"
        except aiohttp.ClientError as error:
            return None, f"{type(error).__name__}: {error}"

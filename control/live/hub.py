"""Fan-out of live changes to the dashboard's event streams, one hub per admin process.

One Redis subscription to the changes channel and one rollout poll per second serve every open
stream, however many: frames are encoded once and offered to each subscriber's bounded queue
(a subscriber that falls behind loses its backlog and gets one `resync` frame instead, so a slow
browser never grows the server's memory). It only reads Redis; it never writes.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from control import homes, keyspace
from control.rollout.model import HistoryPoint, Progress, Rollout
from control.rollout.record import decode as decode_rollout
from control.store import text
from gateway.contract import keys
from gateway.contract.events import ProvidersChanged, RouteChanged, RouteDeleted, event_decoder

log = logging.getLogger("turnout.control")

QUEUE_LIMIT = 64  # frames waiting per subscriber before it is told to resync
HISTORY_TAIL = 50  # evidence points read per poll (a poll a second, ticks of >= 0.2 s)
RETRY_S = 1.0  # after a failed subscription or poll
CLOSE_WAIT_S = 2.0

_encoder = msgspec.json.Encoder()
_point_decoder = msgspec.json.Decoder(HistoryPoint)

ProgressFn = Callable[[Rollout, float], Progress | None]


def frame(event: str, data: Any) -> bytes:
    """One server-sent event: `event: NAME` and its JSON `data` on one line."""
    return b"event: " + event.encode() + b"\ndata: " + _encoder.encode(data) + b"\n\n"


RESYNC = frame("resync", {"reason": "missed events: read the state again"})
CLOSED = b""  # sentinel: the hub is closing; the stream ends


class RolloutEvent(msgspec.Struct, frozen=True, kw_only=True):
    route: str
    rollout: Rollout
    progress: Progress | None
    points: list[HistoryPoint]  # evidence points since the last event for this route


class Subscriber:
    """One open stream: the route it watches (None: every route) and its bounded queue."""

    __slots__ = ("queue", "route")

    def __init__(self, route: str | None) -> None:
        self.route = route
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LIMIT)

    def offer(self, data: bytes) -> None:
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:  # behind: drop the backlog, ask for a fresh read
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class EventHub:
    """Owned by the admin app; its tasks start with the first subscriber and stop on close."""

    def __init__(self, redis: aioredis.Redis, progress: ProgressFn, poll_s: float = 1.0) -> None:
        self._redis = redis
        self._progress = progress
        self._poll_s = poll_s
        self._subscribers: set[Subscriber] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._seen: dict[str, tuple[bytes, float]] = {}  # route -> (record, last point's time)
        self._closing = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, route: str | None) -> Subscriber:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen(), name="live-listen"),
                asyncio.create_task(self._poll(), name="live-poll"),
            ]
        subscriber = Subscriber(route)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def close(self) -> None:
        self._closing = True
        for subscriber in self._subscribers:
            subscriber.offer(CLOSED)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # redis-py's get_message can swallow a cancellation; the loops also stop on
            # `_closing` within their one-second read timeout
            await asyncio.wait(self._tasks, timeout=CLOSE_WAIT_S)
        self._tasks = []

    def publish(self, route: str | None, data: bytes) -> None:
        """Offer a frame to the subscribers of `route` and to those watching every route."""
        for subscriber in self._subscribers:
            if subscriber.route is None or route is None or subscriber.route == route:
                subscriber.offer(data)

    async def _listen(self) -> None:
        subscribed_before = False
        while not self._closing:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(keys.CHANGES_CHANNEL)
                    if subscribed_before:  # messages may have been lost while away
                        self.publish(None, RESYNC)
                    subscribed_before = True
                    while not self._closing:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None:
                            self._on_change(message["data"])
            except (RedisError, OSError) as error:
                log.warning("live events: changes channel unavailable (%s); retrying", error)
                await asyncio.sleep(RETRY_S)

    def _on_change(self, data: bytes | str) -> None:
        try:
            event = event_decoder.decode(data)
        except msgspec.DecodeError:
            log.warning("live events: undecodable change event ignored")
            return
        if isinstance(event, RouteChanged):
            self.publish(event.route, frame("route", event))
        elif isinstance(event, RouteDeleted):
            self.publish(event.route, frame("route_deleted", event))
        elif isinstance(event, ProvidersChanged):
            self.publish(None, frame("providers", {}))

    async def _watched(self) -> list[str]:
        routes = {s.route for s in self._subscribers if s.route is not None}
        if any(s.route is None for s in self._subscribers):
            routes |= {text(r) for r in await self._redis.smembers(keyspace.ROLLOUTS_ACTIVE)}
        return sorted(routes)

    async def _poll(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._poll_s)
            try:
                await self.poll_once()
            except (RedisError, OSError) as error:
                log.warning("live events: rollout poll failed (%s)", error)
                await asyncio.sleep(RETRY_S)

    async def poll_once(self) -> None:
        """Read the watched routes' rollout records; publish the ones that changed."""
        routes = await self._watched()
        self._seen = {r: seen for r, seen in self._seen.items() if r in routes}
        if not routes:
            return
        found = await homes.all_groups(self._redis)
        async with self._redis.pipeline(transaction=False) as pipe:
            for route in routes:
                pipe.get(keyspace.rollout(route, found.get(route)))
                pipe.lrange(keyspace.rollout_history(route, found.get(route)), -HISTORY_TAIL, -1)
            replies = await pipe.execute()
        now = time.time()
        for index, route in enumerate(routes):
            record, raw_points = replies[2 * index], replies[2 * index + 1]
            last_record, last_at = self._seen.get(route, (b"", 0.0))
            if record is None or record == last_record:
                continue
            rollout = decode_rollout(record)
            points = [p for p in map(_point_decoder.decode, raw_points) if p.at > last_at]
            newest = points[-1].at if points else last_at
            self._seen[route] = (record, newest)
            event = RolloutEvent(
                route=route, rollout=rollout, progress=self._progress(rollout, now), points=points
            )
            self.publish(route, frame("rollout", event))

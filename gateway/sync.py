"""Keeps the routing table in step with Redis, entirely off the request path.

Pub/sub events trigger a read of the changed route; a periodic revision check repairs any lost
message; every applied snapshot is saved as the last-known-good file so a gateway can start and
serve while Redis is down. Redis errors are logged and retried here, never seen by a call.

An absent route is never read as a deleted one: only an audited deletion (RouteDeleted, or the
deletion record the revision check reads) drops a route. A Redis that lost its data (its data
epoch vanished or changed without a restore) is reported, not applied: the last known good
snapshot keeps serving and its file is left as it is until the epoch is back.
"""

import asyncio
import logging
import os
import time
from pathlib import Path

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from gateway.contract import keys
from gateway.contract.durability import loss_reason
from gateway.contract.events import ProvidersChanged, RouteChanged, RouteDeleted, event_decoder
from gateway.contract.snapshot import (
    ProviderSpec,
    ReleaseSpec,
    RouteSnapshot,
    RouteState,
    Snapshot,
)
from gateway.dataloss import LOST_MESSAGE, leave_marker, merged, read_durability
from gateway.routing import RoutingTable
from gateway.telemetry.recorder import Recorder
from gateway.upstream.client import UpstreamClient

log = logging.getLogger("turnout.sync")

_state_decoder = msgspec.json.Decoder(RouteState)
_release_decoder = msgspec.json.Decoder(ReleaseSpec)
_provider_decoder = msgspec.json.Decoder(ProviderSpec)
_snapshot_decoder = msgspec.json.Decoder(Snapshot)

_WAKE_S = 0.25  # longest wait for a message before checking whether to stop or poll
EMPTY = Snapshot(routes={}, providers={})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Revision(msgspec.Struct):
    """Only the revision of a route state; tolerant of fields this gateway does not know."""

    revision: int


_revision_decoder = msgspec.json.Decoder(_Revision)


class BadRouteData(ValueError):
    """A route's records in Redis do not decode: the served version is kept."""


async def home_of(redis: aioredis.Redis, name: str) -> str | None:
    """The group whose slot holds the route's keys (`keys.route_home`), or None: its own."""
    raw = await redis.hget(keys.ROUTE_HOMES, name)
    return None if raw is None else _text(raw)


# One-slot atomic reads as read-only scripts rather than MULTI: redis-py's cluster transactions
# fail on the replies of SMEMBERS and HGETALL (their reply callbacks take no options), and a
# script reads one slot atomically on standalone, Sentinel and Cluster alike.
_READ_INDEX = """
return {redis.call('SMEMBERS', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""
_READ_ROUTES = """
local found = {}
for i = 1, #KEYS, 2 do
  found[i] = redis.call('GET', KEYS[i])
  found[i + 1] = redis.call('HGETALL', KEYS[i + 1])
end
return found
"""


def _pairs(flat: list[bytes]) -> dict[str, bytes]:
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


async def read_index(redis: aioredis.Redis) -> tuple[list[str], dict[str, str]]:
    """The route names and where each lives, in one step: index and homes share a slot."""
    script = redis.register_script(_READ_INDEX)
    raw_names, raw_homes = await script(keys=[keys.ROUTE_INDEX, keys.ROUTE_HOMES])
    homes = {name: _text(group) for name, group in _pairs(raw_homes).items()}
    return sorted(_text(n) for n in raw_names), homes


async def read_route(redis: aioredis.Redis, name: str) -> RouteSnapshot | None:
    return await read_route_at(redis, name, await home_of(redis, name))


async def read_route_at(redis: aioredis.Redis, name: str, home: str | None) -> RouteSnapshot | None:
    """The route at `home`, its home as last read. Absent there, its home is asked again: a
    route that just moved into its group's slot (its old keys deleted after the flip) is read
    there, never missed."""
    found = await read_routes(redis, [name], {} if home is None else {name: home})
    if name not in found:
        again = await home_of(redis, name)
        if again != home:
            found = await read_routes(redis, [name], {} if again is None else {name: again})
    return found.get(name)


async def read_routes(
    redis: aioredis.Redis, names: list[str], homes: dict[str, str]
) -> dict[str, RouteSnapshot]:
    """Several routes read in one atomic step: a consistent view of an atomic change set (a
    group's routes share its slot, so this is one slot on Redis Cluster too)."""
    route_keys: list[str] = []
    for name in names:
        route_keys += [
            keys.route_state(name, homes.get(name)),
            keys.route_releases(name, homes.get(name)),
        ]
    script = redis.register_script(_READ_ROUTES)
    replies = await script(keys=route_keys) if route_keys else []
    found: dict[str, RouteSnapshot] = {}
    for index, name in enumerate(names):
        raw_state, raw_releases = replies[2 * index], _pairs(replies[2 * index + 1])
        if raw_state is None:
            continue
        try:
            releases = {r: _release_decoder.decode(b) for r, b in raw_releases.items()}
            found[name] = RouteSnapshot(state=_state_decoder.decode(raw_state), releases=releases)
        except msgspec.DecodeError as error:
            raise BadRouteData(f"route {name}: {error}") from None
    return found


async def read_group(
    redis: aioredis.Redis, names: list[str], homes: dict[str, str]
) -> dict[str, RouteSnapshot]:
    """A group's routes in one atomic read; nothing (they are then read one by one) when they
    are not all in one slot on Redis Cluster: routes grouped before groups had their own slot,
    until they join the group again."""
    try:
        return await read_routes(redis, names, homes)
    except (RedisClusterException, ResponseError) as error:
        if isinstance(error, ResponseError) and "CROSSSLOT" not in str(error):
            raise
        log.warning("routes %s are not in one slot, read one by one: %s", names, error)
        return {}


async def read_providers(
    redis: aioredis.Redis, current: dict[str, ProviderSpec]
) -> dict[str, ProviderSpec]:
    """Providers in Redis; one that does not decode keeps its current version."""
    providers: dict[str, ProviderSpec] = {}
    for raw_name, blob in (await redis.hgetall(keys.PROVIDERS)).items():
        name = _text(raw_name)
        try:
            providers[name] = _provider_decoder.decode(blob)
        except msgspec.DecodeError as error:
            log.error(
                "provider %s: keeping the served version, the new one is bad: %s", name, error
            )
            if name in current:
                providers[name] = current[name]
    return providers


async def _states(
    redis: aioredis.Redis, names: list[str], homes: dict[str, str]
) -> dict[str, bytes]:
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.get(keys.route_state(name, homes.get(name)))
        states = await pipe.execute()
    return {name: raw for name, raw in zip(names, states, strict=True) if raw is not None}


async def read_revisions(redis: aioredis.Redis) -> dict[str, int]:
    return await read_revisions_at(redis, *await read_index(redis))


async def read_revisions_at(
    redis: aioredis.Redis, names: list[str], homes: dict[str, str]
) -> dict[str, int]:
    """The routes' revisions at their homes as last read (`read_index`); one absent there is
    read again at its home now (it may have just moved into its group's slot)."""
    states = await _states(redis, names, homes)
    missing = [name for name in names if name not in states]
    if missing:  # absent at its home: it may have just moved into its group's slot
        _, again = await read_index(redis)
        moved = [name for name in missing if again.get(name) != homes.get(name)]
        states.update(await _states(redis, moved, again))
    revisions: dict[str, int] = {}
    for name in names:
        raw = states.get(name)
        if raw is None:
            continue
        try:
            revisions[name] = _revision_decoder.decode(raw).revision
        except msgspec.DecodeError:
            revisions[name] = -1  # unreadable: read_route reports it
    return revisions


async def read_snapshot(redis: aioredis.Redis, current: Snapshot) -> Snapshot:
    """Everything in Redis; a route whose records do not decode keeps its current version."""
    routes: dict[str, RouteSnapshot] = {}
    for name in await read_revisions(redis):
        try:
            route = await read_route(redis, name)
        except BadRouteData as error:
            log.error("keeping the served version: %s", error)
            route = current.routes.get(name)
        if route is not None:
            routes[name] = route
    groups = {r.state.group for r in routes.values() if r.state.group is not None}
    _, homes = await read_index(redis)
    for group in sorted(groups):  # a group's routes again, together: one change set, whole
        try:
            members = [n for n, r in routes.items() if r.state.group == group]
            routes.update(await read_group(redis, members, homes))
        except BadRouteData as error:
            log.error("keeping the routes read one by one: %s", error)
    return Snapshot(routes=routes, providers=await read_providers(redis, current.providers))


def load_file(path: Path) -> Snapshot | None:
    try:
        return _snapshot_decoder.decode(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError) as error:
        log.warning("ignoring unreadable last-known-good snapshot %s: %s", path, error)
        return None


def save_file(path: Path, snapshot: Snapshot) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(msgspec.json.encode(snapshot))
    temporary.replace(path)


class SnapshotHolder:
    """The current routing table plus how fresh it is. Lives on the app; read by handlers."""

    def __init__(self, recorder: Recorder, file: Path | None, client: UpstreamClient) -> None:
        self.recorder = recorder
        self.file = file
        self.client = client
        self.table = RoutingTable(EMPTY, recorder, client)
        self.loaded = False
        self.source = "none"
        self.last_confirmed = 0.0  # monotonic time Redis last confirmed the table was current
        self.redis_connected = False
        self.data_lost: str | None = None  # why Redis's data is not applied, while it is not
        self.unconfirmed: list[str] = []  # served, absent from Redis, never deleted

    async def prepare(self, snapshot: Snapshot) -> None:
        """Build the TLS contexts the snapshot's providers need, in a worker thread (it reads
        CA files), so compiling the table and serving calls only look them up. A change that
        leaves the providers as they are (a flip) skips it."""
        if self.loaded and snapshot.providers == self.table.snapshot.providers:
            return
        bundles = [
            p.ca_bundle
            for p in snapshot.providers.values()
            if p.base_url.lower().startswith("https:")
        ]
        if bundles:
            await asyncio.to_thread(self.client.tls.prepare, bundles)

    def apply(self, snapshot: Snapshot, source: str) -> None:
        table = RoutingTable(snapshot, self.recorder, self.client, self.table)
        for route, reason in table.rejected.items():
            if self.table.rejected.get(route) != reason:
                log.error(
                    "route %s: keeping the served version, the new one is bad: %s", route, reason
                )
        self.table = table
        self.loaded = True
        self.source = source

    def staleness_s(self) -> float:
        if not self.last_confirmed:
            return float("inf")
        return time.monotonic() - self.last_confirmed

    def confirm(self) -> None:
        self.last_confirmed = time.monotonic()
        self.redis_connected = True


class Syncer:
    """Background task: subscribe, apply events, poll revisions, save the LKG file."""

    def __init__(self, redis: aioredis.Redis, holder: SnapshotHolder, poll_interval_s: float):
        self.redis = redis
        self.holder = holder
        self.poll_interval_s = poll_interval_s
        # Checked every wake-up: a cancel can be swallowed by a read timeout firing at the same
        # moment (asyncio.timeout on Python 3.11), so stopping must not rely on it alone.
        self._stopping = False
        self._marker_left = False  # this process added its account to the data-lost marker

    def stop(self) -> None:
        self._stopping = True

    async def start_from_file(self) -> None:
        if self.holder.file is None or self.holder.loaded:
            return
        snapshot = load_file(self.holder.file)
        if snapshot is not None:
            await self.holder.prepare(snapshot)
            self.holder.apply(snapshot, "file")
            log.warning("serving from last-known-good snapshot file %s", self.holder.file)

    async def run(self) -> None:
        backoff_s = 0.05
        while not self._stopping:
            try:
                await self._session()
            except (RedisError, OSError) as error:
                if self.holder.redis_connected:
                    log.warning("redis unavailable, serving the last snapshot: %s", error)
                self.holder.redis_connected = False
            except Exception:  # supervisor: a surprise must not end syncing for good
                log.exception("snapshot sync failed; serving the last snapshot and retrying")
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self.poll_interval_s)

    async def _session(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.CHANGES_CHANNEL)
            await self.full_reload()  # after subscribing, so no change falls in between
            next_poll = time.monotonic() + self.poll_interval_s
            while not self._stopping:
                timeout = min(max(next_poll - time.monotonic(), 0.0), _WAKE_S)
                message = await pubsub.get_message(timeout=timeout)
                if message is not None and message.get("type") == "message":
                    await self.handle_event(message["data"])
                if time.monotonic() >= next_poll:
                    await self.poll()
                    next_poll = time.monotonic() + self.poll_interval_s
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def full_reload(self) -> None:
        found = await read_durability(self.redis)
        current = self.holder.table.snapshot
        reason = found.marker or loss_reason(current.epoch, found.epoch)
        if reason is not None:
            self._marker_left = self._marker_left and found.marker is not None  # lost twice
            await self._lost(reason)
            return
        snapshot, kept = merged(await read_snapshot(self.redis, current), current, found)
        if kept != self.holder.unconfirmed and kept:
            log.warning("absent from Redis, never deleted, still served: %s", ", ".join(kept))
        self.holder.unconfirmed = kept
        if self.holder.data_lost is not None:
            log.warning("Redis data epoch is back: applying Redis again")
            self.holder.data_lost = None
            self._marker_left = False
        self.holder.confirm()
        if snapshot != current or not self.holder.loaded:
            await self._publish(snapshot)
        elif self.holder.source != "redis":
            self.holder.source = "redis"

    async def _lost(self, reason: str) -> None:
        """Keep serving what is held; the file is not touched; report it once, mark it once."""
        if self.holder.data_lost is None:
            log.error(LOST_MESSAGE, reason, len(self.holder.table.routes))
        self.holder.data_lost = reason
        self.holder.redis_connected = True
        if not self._marker_left:
            await leave_marker(self.redis, reason, self.holder.table.snapshot)
            self._marker_left = True

    async def handle_event(self, data: bytes | str) -> None:
        try:
            event = event_decoder.decode(data)
        except msgspec.DecodeError as error:
            log.warning("ignoring malformed change event: %s", error)
            return
        current = self.holder.table.snapshot
        if self.holder.data_lost is not None:
            return  # nothing is applied until the epoch is back; the revision check sees to it
        if isinstance(event, RouteChanged):
            served = self.holder.table.routes.get(event.route)
            if served is not None and served.revision >= event.revision:
                return
            try:
                route = await read_route(self.redis, event.route)
                # Route groups: a change set moves every route of the group in one script, so
                # read the group's routes together (one atomic read of the group's slot) and
                # swap them in at once.
                group = route.state.group if route is not None else None
                members = [n for n, r in current.routes.items() if r.state.group == group]
                grouped = {}
                if group is not None:
                    _, homes = await read_index(self.redis)
                    names = sorted({event.route, *members})
                    grouped = await read_group(self.redis, names, homes)
            except BadRouteData as error:
                log.error("keeping the served version: %s", error)
                return
            if route is None:
                return  # absent is not deleted: only RouteDeleted drops a route
            routes = {**current.routes, **grouped}
            if event.route not in grouped:
                routes[event.route] = route
            moved = {event.route, *grouped}
            self.holder.unconfirmed = [n for n in self.holder.unconfirmed if n not in moved]
            await self._publish(msgspec.structs.replace(current, routes=routes))
        elif isinstance(event, RouteDeleted):
            routes = {k: v for k, v in current.routes.items() if k != event.route}
            self.holder.unconfirmed = [n for n in self.holder.unconfirmed if n != event.route]
            log.warning("route %s deleted by an audited deletion: no longer served", event.route)
            await self._publish(msgspec.structs.replace(current, routes=routes))
        elif isinstance(event, ProvidersChanged):
            found = await read_providers(self.redis, current.providers)
            providers = {**current.providers, **found}  # a provider is never deleted
            await self._publish(msgspec.structs.replace(current, providers=providers))
        self.holder.confirm()

    async def poll(self) -> None:
        """The safety net for lost messages: compare revisions and providers with Redis."""
        current = self.holder.table.snapshot
        found = await read_durability(self.redis)
        if self.holder.data_lost is not None or found.marker or found.epoch != current.epoch:
            await self.full_reload()  # judges the epoch: reports a loss or applies a restore
            return
        revisions = await read_revisions(self.redis)
        providers = await read_providers(self.redis, current.providers)
        known = {name: route.state.revision for name, route in current.routes.items()}
        known.update(dict.fromkeys(self.holder.table.rejected, -2))  # differ until repaired
        moved = any(known.get(name) != revision for name, revision in revisions.items())
        deleted = any(name in found.deleted and name not in revisions for name in known)
        if moved or deleted or any(current.providers.get(n) != p for n, p in providers.items()):
            log.info("revision check found a missed change; reloading")
            await self.full_reload()
        self.holder.confirm()

    async def _publish(self, snapshot: Snapshot) -> None:
        await self.holder.prepare(snapshot)
        self.holder.apply(snapshot, "redis")
        if self.holder.file is not None:
            await asyncio.to_thread(save_file, self.holder.file, snapshot)

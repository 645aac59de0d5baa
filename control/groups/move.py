"""Moving a route's keys into its group's slot, so a change set over the group is one script and
gateways read the group in one atomic step, on Redis Cluster too (`keys.route_home`).

Two slots cannot be written in one script on Cluster, so the move is a sequence that keeps the
route whole and served at every step:

1. mark the old slot "moving:G" (`keys.route_moved`): every writing script refuses it, so other
   writers get a 409 busy instead of writing what the copy would miss;
2. copy releases, metadata, rollout, gates, reviews and the audit history (same entry ids, so
   review ids and webhook cursors stay valid) into the group's slot: invisible to everyone, as
   the route's home still names the old slot;
3. store the state there (revision + 1, the group set) with its audit entry, in one script;
4. point the route's home at the group, publish the change;
5. delete the old keys and mark the old slot "moved:G" (a writer that resolved the old home just
   before the flip gets a 409 busy, never a write into a dead slot).

Gateways read a route at its home: before step 4 the old, complete copy; after it the new one. A
gateway that read the old home and then finds the old keys gone reads the home again
(`gateway.sync`). A move cut short (a crash) leaves the route served from its old slot, busy; the
same join again resumes it.
"""

import secrets
from typing import Any

import msgspec

from control import homes, keyspace
from control.errors import Conflict
from control.routes.views import read
from control.store import Store, load_script, text
from gateway.contract import keys
from gateway.contract.events import RouteChanged, event_encoder
from gateway.contract.snapshot import RouteState

_encoder = msgspec.json.Encoder()
_CHUNK = 500  # audit entries copied per round trip
LEASE_MS = 60_000  # a move of 100,000 audit entries takes a few seconds

# The control plane's per-route keys beside the contract's: (key function, Redis type).
_HASHES = (keys.route_releases, keyspace.release_meta, keyspace.gates, keyspace.reviews)
_STRINGS = (keyspace.rollout, keyspace.rollout_fence, keyspace.gate_dataset)


async def move_in(store: Store, route: str, group: str, *, actor: str, reason: str) -> RouteState:
    """Move an ungrouped route (or one whose move was cut short) into `group`'s slot."""
    redis = store.redis
    marker_key = keys.route_moved(route)
    if await homes.group_of(redis, route) == group:  # cut short after its flip: finish it
        await _finish(store, route, group)
        return (await read(store, route)).state
    await store.guard.check()
    # One mover at a time: a lease that outlives a crashed mover by at most LEASE_MS, after
    # which the same join resumes the move its marker names.
    lease = f"{marker_key}:lease"
    if not await redis.set(lease, secrets.token_hex(8), nx=True, px=LEASE_MS):
        raise homes.busy(route, "another join is moving it")
    try:
        return await _move(store, route, group, actor=actor, reason=reason)
    finally:
        await redis.delete(lease)


async def _move(store: Store, route: str, group: str, *, actor: str, reason: str) -> RouteState:
    redis = store.redis
    marker_key, marker = keys.route_moved(route), f"moving:{group}"
    if not await redis.set(marker_key, marker, nx=True):
        found = await redis.get(marker_key)
        if found is None or text(found) != marker:  # moving, or moved, elsewhere
            raise homes.busy(route, "another move" if found is None else text(found))
    data = await read(store, route)  # in its own slot: its home is not the group yet
    if data.rollout is not None and data.rollout.active:
        await redis.delete(marker_key)
        raise Conflict(
            f"routes: route {route!r} has a running rollout ({data.rollout.status}); finish or "
            "abort it before it joins a group",
            field="routes",
        )
    await _copy(store, route, group)
    state = msgspec.structs.replace(data.state, revision=data.state.revision + 1, group=group)
    script = redis.register_script(load_script("move_in.lua"))
    evidence = {"moved_from": keys.route_home(route), "moved_to": keys.route_home(route, group)}
    reply = await script(
        keys=[keys.route_state(route, group), keys.route_audit(route, group)],
        args=[
            _encoder.encode(state),
            actor,
            reason,
            await redis.get(keys.route_state(route)) or b"",
            store.audit_max_entries,
            _encoder.encode(evidence),
        ],
    )
    if text(reply[0]) != "ok":
        raise homes.busy(route, "its state is already in the group's slot")
    await redis.hset(keys.ROUTE_HOMES, route, group)
    event = RouteChanged(route=route, revision=state.revision)
    await redis.publish(keys.CHANGES_CHANNEL, event_encoder.encode(event))
    await _finish(store, route, group)
    return state


async def unfinished(store: Store, route: str, group: str) -> bool:
    """The route's move into `group` was cut short (its old slot still says "moving")."""
    found = await store.redis.get(keys.route_moved(route))
    return found is not None and text(found) == f"moving:{group}"


async def _finish(store: Store, route: str, group: str) -> None:
    """The old keys go (gateways read the home first, and read it again when a route is
    absent there); the old slot stays marked, so a late writer gets a 409, not a dead write."""
    await store.redis.delete(*_route_keys(route))
    await store.redis.set(keys.route_moved(route), f"moved:{group}")


def _route_keys(route: str, group: str | None = None) -> list[str]:
    """Every key of the route at one home (its telemetry stays under its own tag)."""
    return [
        keys.route_state(route, group),
        keys.route_audit(route, group),
        keyspace.rollout_history(route, group),
        *(f(route, group) for f in _HASHES),
        *(f(route, group) for f in _STRINGS),
    ]


async def _copy(store: Store, route: str, group: str) -> None:
    """Everything but the state, from the route's own slot into the group's (cleared first, in
    case an earlier move was cut short)."""
    redis = store.redis
    await redis.delete(*_route_keys(route, group))
    for key in _HASHES:
        found: dict[Any, Any] = await redis.hgetall(key(route))
        if found:
            await redis.hset(key(route, group), mapping=found)
    for key in _STRINGS:
        value = await redis.get(key(route))
        if value is not None:
            await redis.set(key(route, group), value)
    history = await redis.lrange(keyspace.rollout_history(route), 0, -1)
    if history:
        await redis.rpush(keyspace.rollout_history(route, group), *history)
    start = "-"
    while True:
        entries: list[Any] = await redis.xrange(keys.route_audit(route), min=start, count=_CHUNK)  # type: ignore[assignment]
        if not entries:
            break
        async with redis.pipeline(transaction=False) as pipe:
            for entry_id, fields in entries:
                pipe.xadd(keys.route_audit(route, group), fields, id=entry_id)
            await pipe.execute()
        start = f"({text(entries[-1][0])}"
        if len(entries) < _CHUNK:
            break

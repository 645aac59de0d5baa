"""The control plane's Redis client and its Lua scripts, behind small typed wrappers.

The scripts live as `.lua` files beside this package (`control/lua/`) and are registered once
with redis-py's `register_script` (EVALSHA, reloaded on NOSCRIPT). Only this module runs them.
Every write first passes the data-epoch check (`control.durability`): 503 while Redis lost its
data.

Retries: the client retries a command once on a connection error (`redis_client`), so the first
call after a Redis restart does not fail on a dead pooled connection. That is safe for reads and
for the idempotent scripts (versions are keyed by content; an identical provider upsert writes
nothing). A route change cannot be applied twice: its script compare-and-sets the revision, so a
retry of a change that did land answers "conflict", which `control.routes.changes` recognises as
its own change by reading the route back. A command that times out is never retried.
"""

import time
from importlib import resources
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError

from control import homes, keyspace
from control.durability import EpochGuard
from gateway.contract import keys
from gateway.contract.durability import RouteDeletion
from gateway.contract.redis_url import connect
from gateway.contract.snapshot import ProviderSpec, ReleaseSpec, RouteState

_encoder = msgspec.json.Encoder()


def redis_client(url: str, **options: Any) -> aioredis.Redis:
    """The control plane's client: one retry on a connection error, none on a time-out."""
    retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    return connect(url, retry=retry, **options)


def load_script(name: str) -> str:
    return resources.files("control").joinpath("lua", name).read_text(encoding="utf-8")


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class CommitOutcome(msgspec.Struct, frozen=True):
    """What `commit_route.lua` answered: `status` is ok, conflict, release_exists or invalid."""

    status: str  # also fenced, rollout_conflict (controller changes)
    revision: int | None = None  # the new revision (ok), the current one (conflict), the highest
    # fencing token (fenced) or the stored rollout version (rollout_conflict)
    field: str | None = None  # invalid: the field breaking a rule, and the rule
    rule: str | None = None
    audit_id: str | None = None  # ok: the audit entry's stream id (also a review item's id)
    group: str | None = None  # group_rollout: the group whose rollout (`field`) refused a start


class DeleteOutcome(msgspec.Struct, frozen=True):
    """What `delete_route.lua` answered: `status` is ok, not_found, rollout_active or
    group_rollout_active."""

    status: str
    revision: int | None = None  # ok: the deleted route's last revision
    closed_reviews: list[str] = []  # ok: the open review items the deletion closed
    releases: list[str] = []  # ok: the ids of the releases deleted with the route
    rollout: tuple[str, str] | None = None  # rollout_active: (candidate release, status)
    group_rollout: tuple[str, str] | None = None  # group_rollout_active: (its id, status)


def moving(route: str, reply: list[Any]) -> None:
    """A script refused a slot the route is moving out of (or moved out of): 409 busy."""
    if text(reply[0]) == "moving":
        raise homes.busy(route, text(reply[-1]))


class NewRelease(msgspec.Struct, frozen=True):
    spec: ReleaseSpec
    meta_json: bytes


class Store:
    """Owned by the admin app (created and closed in its cleanup context) or by a command."""

    def __init__(self, redis: aioredis.Redis, audit_max_entries: int = 100_000) -> None:
        self.redis = redis
        self.audit_max_entries = audit_max_entries
        self._commit_route: AsyncScript = redis.register_script(load_script("commit_route.lua"))
        self._put_version: AsyncScript = redis.register_script(load_script("put_version.lua"))
        self._put_provider: AsyncScript = redis.register_script(load_script("put_provider.lua"))
        self._delete_route: AsyncScript = redis.register_script(load_script("delete_route.lua"))
        self.guard = EpochGuard(redis)
        self._rollout_put: AsyncScript = redis.register_script(load_script("rollout_put.lua"))
        self._lease: AsyncScript = redis.register_script(load_script("lease.lua"))
        self._lease_release: AsyncScript = redis.register_script(load_script("lease_release.lua"))
        self._outbox_write: AsyncScript = redis.register_script(load_script("outbox_write.lua"))

    async def commit_route(
        self,
        expected_revision: int,
        state: RouteState,
        *,
        action: str,
        actor: str,
        reason: str,
        release: NewRelease | None = None,
        evidence: bytes = b"",
        fence: int | None = None,
        rollout: bytes = b"",
        rollout_version: int = 0,
        review: bytes = b"",
    ) -> CommitOutcome:
        """`fence`: the controller's fencing token (a stale leader is refused); `rollout`: the
        route's new rollout record, stored in the same step if its version is `rollout_version`;
        `review`: a Review JSON to open as a needs-review item with the change (emergency)."""
        route = state.name
        await self.guard.check()
        group = await homes.group_of(self.redis, route)
        reply = await self._commit_route(
            keys=[
                keys.route_state(route, group),
                keys.route_releases(route, group),
                keyspace.release_meta(route, group),
                keys.route_audit(route, group),
                keyspace.rollout_fence(route, group),
                keyspace.rollout(route, group),
                keyspace.reviews(route, group),
                keys.route_moved(route, group),
                # in the group's slot: a route rollout's start checks the group's rollout
                *([keyspace.group_rollout(group)] if group is not None else []),
            ],
            args=[
                expected_revision,
                _encoder.encode(state),
                action,
                actor,
                reason,
                keys.CHANGES_CHANNEL,
                self.audit_max_entries,
                evidence,
                release.spec.id if release else "",
                _encoder.encode(release.spec) if release else b"",
                release.meta_json if release else b"",
                "" if fence is None else fence,
                rollout,
                rollout_version,
                review,
            ],
        )
        status = text(reply[0])
        moving(route, reply)
        if status == "ok":
            return CommitOutcome(status, revision=int(reply[1]), audit_id=text(reply[2]))
        if status in ("conflict", "fenced", "rollout_conflict"):
            return CommitOutcome(status, revision=int(reply[1]))
        if status == "invalid":
            return CommitOutcome(status, field=text(reply[1]), rule=text(reply[2]))
        if status == "group_rollout":  # field: the group rollout's id, rule: its status
            assert group is not None
            return CommitOutcome(status, field=text(reply[1]), rule=text(reply[2]), group=group)
        return CommitOutcome(status)

    async def put_version(
        self, kind: str, name: str, content_hash: str, record: bytes
    ) -> tuple[int, bool]:
        """The version number holding this content, and whether this call created it."""
        await self.guard.check()
        reply = await self._put_version(
            keys=[keyspace.versions(kind, name), keyspace.content_index(kind, name)],
            args=[content_hash, record],
        )
        return int(reply[0]), bool(int(reply[1]))

    async def put_provider(self, provider: ProviderSpec, *, actor: str, reason: str) -> int:
        """Upsert with its audit entry: 2 created, 1 changed, 0 already identical."""
        await self.guard.check()
        outcome = await self._put_provider(
            keys=[keys.PROVIDERS, keyspace.PROVIDERS_AUDIT],
            args=[
                provider.name,
                _encoder.encode(provider),
                actor,
                reason,
                keys.CHANGES_CHANNEL,
                self.audit_max_entries,
            ],
        )
        return int(outcome)

    async def delete_route(
        self,
        route: str,
        *,
        actor: str,
        reason: str,
        windows: tuple[str, ...] = (),
        webhooks: tuple[str, ...] = (),
    ) -> DeleteOutcome:
        """Delete a route and everything kept in its slot. The deletion record is written first
        (outside the route's slot): gateways drop a route only when it is both recorded as
        deleted and absent, so a refused deletion leaves nothing to act on. `windows` and
        `webhooks`: those scoped to the route, named in the deletion's audit entry."""
        await self.guard.check()
        deletion = RouteDeletion(deleted_at=time.time(), actor=actor, reason=reason)
        await self.redis.hset(keys.DELETED_ROUTES, route, _encoder.encode(deletion))
        group = await homes.group_of(self.redis, route)
        reply = await self._delete_route(
            keys=[
                keys.route_state(route, group),
                keys.route_releases(route, group),
                keyspace.release_meta(route, group),
                keys.route_audit(route, group),
                keyspace.rollout(route, group),
                keyspace.rollout_fence(route, group),
                keyspace.rollout_history(route, group),
                keyspace.reviews(route, group),
                keyspace.gates(route, group),
                keyspace.gate_dataset(route, group),
                keys.route_moved(route, group),
                # in the group's slot: its rollout is checked in the same step
                *([keyspace.group_rollout(group)] if group is not None else []),
            ],
            args=[
                route,
                actor,
                reason,
                keys.CHANGES_CHANNEL,
                self.audit_max_entries,
                _encoder.encode(list(windows)),
                _encoder.encode(list(webhooks)),
            ],
        )
        status = text(reply[0])
        if status != "ok":
            await self.redis.hdel(keys.DELETED_ROUTES, route)
            moving(route, reply)
            if status == "rollout_active":
                return DeleteOutcome(status, rollout=(text(reply[1]), text(reply[2])))
            if status == "group_rollout_active":
                return DeleteOutcome(status, group_rollout=(text(reply[1]), text(reply[2])))
            return DeleteOutcome(status)
        if group is not None:  # a route created later under this name starts in its own slot
            await self.redis.hdel(keys.ROUTE_HOMES, route)
            await self.redis.delete(keys.route_moved(route))
        await self.redis.srem(keys.ROUTE_INDEX, route)
        await self.redis.srem(keyspace.ROLLOUTS_ACTIVE, route)
        closed = msgspec.json.decode(reply[2], type=list[str])
        releases = [text(r) for r in reply[3]]
        return DeleteOutcome(
            status, revision=int(reply[1]), closed_reviews=closed, releases=releases
        )

    async def put_rollout(
        self,
        route: str,
        expected_version: int,
        rollout: bytes,
        *,
        fence: int | None = None,
        audit: tuple[str, str, str, bytes, int] | None = None,
        history_point: bytes = b"",
        history_cap: int = 1000,
    ) -> CommitOutcome:
        """Store a rollout record (compare-and-set on its version) without changing the route.
        `audit`: (action, actor, reason, evidence JSON, route revision) of an entry to append."""
        await self.guard.check()
        action, actor, reason, evidence, revision = audit or ("", "", "", b"", 0)
        group = await homes.group_of(self.redis, route)
        reply = await self._rollout_put(
            keys=[
                keyspace.rollout(route, group),
                keyspace.rollout_fence(route, group),
                keys.route_audit(route, group),
                keyspace.rollout_history(route, group),
                keys.route_moved(route, group),
                *([keyspace.group_rollout(group)] if group is not None else []),
            ],
            args=[
                expected_version,
                rollout,
                "" if fence is None else fence,
                action,
                actor,
                reason,
                evidence,
                route,
                revision,
                self.audit_max_entries,
                history_point,
                history_cap,
            ],
        )
        moving(route, reply)
        status = text(reply[0])
        if status == "group_rollout":
            assert group is not None
            return CommitOutcome(status, field=text(reply[1]), rule=text(reply[2]), group=group)
        return CommitOutcome(status, revision=int(reply[1]) if len(reply) > 1 else None)

    async def hold_lease(
        self,
        replica: str,
        lease_ms: int,
        lease: tuple[str, str] = (keyspace.CONTROLLER_LEASE, keyspace.CONTROLLER_TOKENS),
    ) -> tuple[int, bool]:
        """Take or renew a lease, the controller's unless `lease` names another (lease key,
        token counter): (fencing token, held by this replica)."""
        reply = await self._lease(keys=list(lease), args=[replica, lease_ms])
        return int(reply[0]), bool(int(reply[1]))

    async def outbox_write(self, holder: str, keys: list[str], args: list[Any]) -> str | None:
        """Run the webhook worker's commands if `holder` ("<token>:<replica>") still holds the
        lease `keys[0]`: None when applied, else the lease's current value ('' when free)."""
        reply = await self._outbox_write(keys=keys, args=[holder, *args])
        return None if text(reply[0]) == "ok" else text(reply[1])

    async def release_lease(self, replica: str, token: int) -> None:
        await self._lease_release(keys=[keyspace.CONTROLLER_LEASE], args=[f"{token}:{replica}"])

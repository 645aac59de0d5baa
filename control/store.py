"""The control plane's Redis client and its Lua scripts, behind small typed wrappers.

The scripts live as `.lua` files beside this package (`control/lua/`) and are registered once
with redis-py's `register_script` (EVALSHA, reloaded on NOSCRIPT). Only this module runs them.
"""

from importlib import resources

import msgspec
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from control import keyspace
from gateway.contract import keys
from gateway.contract.snapshot import ProviderSpec, ReleaseSpec, RouteState

_encoder = msgspec.json.Encoder()


def load_script(name: str) -> str:
    return resources.files("control").joinpath("lua", name).read_text(encoding="utf-8")


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class CommitOutcome(msgspec.Struct, frozen=True):
    """What `commit_route.lua` answered: `status` is ok, conflict, release_exists or invalid."""

    status: str
    revision: int | None = None  # the new revision (ok) or the current one (conflict)
    field: str | None = None  # invalid: the field breaking a rule, and the rule
    rule: str | None = None
    audit_id: str | None = None  # ok: the audit entry's stream id (also a review item's id)


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
        review: bytes = b"",
    ) -> CommitOutcome:
        """`review`: a Review JSON to open as a needs-review item with the change (emergency)."""
        route = state.name
        reply = await self._commit_route(
            keys=[
                keys.route_state(route),
                keys.route_releases(route),
                keyspace.release_meta(route),
                keys.route_audit(route),
                keyspace.reviews(route),
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
                review,
            ],
        )
        status = text(reply[0])
        if status == "ok":
            return CommitOutcome(status, revision=int(reply[1]), audit_id=text(reply[2]))
        if status == "conflict":
            return CommitOutcome(status, revision=int(reply[1]))
        if status == "invalid":
            return CommitOutcome(status, field=text(reply[1]), rule=text(reply[2]))
        return CommitOutcome(status)

    async def put_version(
        self, kind: str, name: str, content_hash: str, record: bytes
    ) -> tuple[int, bool]:
        """The version number holding this content, and whether this call created it."""
        reply = await self._put_version(
            keys=[keyspace.versions(kind, name), keyspace.content_index(kind, name)],
            args=[content_hash, record],
        )
        return int(reply[0]), bool(int(reply[1]))

    async def put_provider(self, provider: ProviderSpec, *, actor: str, reason: str) -> int:
        """Upsert with its audit entry: 2 created, 1 changed, 0 already identical."""
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

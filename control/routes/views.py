"""Reading routes for the admin API: state, releases and their metadata, weights in percent."""

from typing import Any

import msgspec

from control import homes, keyspace
from control.durations import Time
from control.errors import NotFound
from control.registry import releases as release_rules
from control.reviews.model import Review
from control.rollout import record as rollout_record
from control.rollout.model import Rollout
from control.routes.weights import bp_to_percent
from control.store import Store, text
from control.windows.schedule import Freeze
from gateway.contract import keys
from gateway.contract.bucketing import release_number
from gateway.contract.snapshot import ModelSpec, PromptSpec, ReleaseSpec, RetryPolicy, RouteState


class ReleaseOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    weight: float  # percent of traffic now
    change_type: str  # versus the route's stable release: stable, none, prompt, model, …
    changes: list[str]
    model: ModelSpec
    prompt: PromptSpec | None
    params: dict[str, Any]
    artifacts: dict[str, str]
    author: str | None
    note: str | None
    created_at: Time | None


class RouteOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    revision: int  # pass it back as `expected_revision` to change the route
    stable: str
    weights: dict[str, float]  # release id -> percent, every release listed
    sticky: bool
    pinned: bool
    releases: list[ReleaseOut]
    retry: RetryPolicy | None = None  # retries and canary fallback; None: off
    rollout: Rollout | None = None  # the route's current (or last) canary rollout
    kill_switch: str | None = None  # every call gets this release (emergency), when set
    record_users_s: int = 0  # opt-in retention of affected user keys (personal data); 0 = off
    group: str | None = None  # route group: shared bucketing salt, changed by change sets
    freeze: Freeze | None = None  # the freeze holding the route now (GET only)
    open_reviews: list[Review] = []  # emergency changes nobody acknowledged yet (GET only)
    # set by a change that may find nothing to do (rollback): False = nothing was written, no
    # revision, no audit entry; None on reads
    changed: bool | None = None


class RollbackOut(RouteOut, frozen=True, kw_only=True):
    message: str  # what the rollback did, or why it had nothing to do


class ReleaseCreated(msgspec.Struct, frozen=True, kw_only=True):
    release: ReleaseOut  # with its id and change type versus stable
    revision: int  # the route's revision after adding it


class RouteSummary(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    revision: int
    stable: str
    weights: dict[str, float]  # release id -> percent, releases with traffic only
    sticky: bool
    pinned: bool
    releases: int


class RouteData(msgspec.Struct, frozen=True):
    """A route as stored: what the gateway reads plus the control plane's release metadata."""

    state: RouteState
    releases: dict[str, ReleaseSpec]
    meta: dict[str, release_rules.ReleaseMeta]
    rollout: Rollout | None = None


_state_decoder = msgspec.json.Decoder(RouteState)
_release_decoder = msgspec.json.Decoder(ReleaseSpec)


def decode_state(blob: bytes | str) -> RouteState:
    return _state_decoder.decode(blob)


async def read(store: Store, route: str) -> RouteData:
    group = await homes.group_of(store.redis, route)
    async with store.redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.route_state(route, group))
        pipe.hgetall(keys.route_releases(route, group))
        pipe.hgetall(keyspace.release_meta(route, group))
        pipe.get(keyspace.rollout(route, group))
        raw_state, raw_releases, raw_meta, raw_rollout = await pipe.execute()
    if raw_state is None:
        raise NotFound(f"route {route!r} does not exist", field="route")
    return RouteData(
        state=decode_state(raw_state),
        releases={text(k): _release_decoder.decode(v) for k, v in raw_releases.items()},
        meta={text(k): release_rules.meta_decoder.decode(v) for k, v in raw_meta.items()},
        rollout=None if raw_rollout is None else rollout_record.decode(raw_rollout),
    )


def release_view(data: RouteData, release_id: str) -> ReleaseOut:
    state, spec = data.state, data.releases[release_id]
    found = release_rules.changes(spec, data.releases.get(state.stable))
    meta = data.meta.get(release_id)
    return ReleaseOut(
        id=release_id,
        weight=bp_to_percent(state.weights_bp.get(release_id, 0)),
        change_type=release_rules.change_type(found, is_stable=release_id == state.stable),
        changes=found,
        model=spec.model,
        prompt=spec.prompt,
        params=spec.params,
        artifacts=spec.artifacts,
        author=meta.author if meta else None,
        note=meta.note if meta else None,
        created_at=meta.created_at if meta else None,
    )


def sorted_ids(ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda r: (release_number(r), r))


def view(data: RouteData) -> RouteOut:
    state = data.state
    ids = sorted_ids(list(data.releases))
    return RouteOut(
        name=state.name,
        revision=state.revision,
        stable=state.stable,
        weights={r: bp_to_percent(state.weights_bp.get(r, 0)) for r in ids},
        sticky=state.sticky,
        pinned=state.pinned,
        releases=[release_view(data, r) for r in ids],
        rollout=data.rollout,
        kill_switch=state.kill_switch,
        record_users_s=state.record_users_s,
        group=state.group,
        retry=state.retry,
    )


async def list_routes(store: Store) -> list[RouteSummary]:
    names = sorted(text(n) for n in await store.redis.smembers(keys.ROUTE_INDEX))
    found = await homes.all_groups(store.redis)
    async with store.redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.get(keys.route_state(name, found.get(name)))
            pipe.hlen(keys.route_releases(name, found.get(name)))
        replies = await pipe.execute()
    summaries: list[RouteSummary] = []
    for index, name in enumerate(names):
        raw_state, release_count = replies[2 * index], replies[2 * index + 1]
        if raw_state is None:  # indexed before its creating script ran, or that script refused
            continue
        state = decode_state(raw_state)
        summaries.append(
            RouteSummary(
                name=name,
                revision=state.revision,
                stable=state.stable,
                weights={
                    r: bp_to_percent(state.weights_bp[r])
                    for r in sorted_ids([r for r, bp in state.weights_bp.items() if bp > 0])
                },
                sticky=state.sticky,
                pinned=state.pinned,
                releases=int(release_count),
            )
        )
    return summaries

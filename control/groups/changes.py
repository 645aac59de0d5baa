"""Joining routes into a group, and change sets that flip, promote or roll back every route of
the group in one atomic, audited script (`commit_group.lua`). A group's routes live in the
group's slot (`keys.route_home`), so that script runs on Redis Cluster too.

A user's bucket is the same on every route of a group (the group's name is the salt) and
canaries sit at the bottom of the range, so with equal canary weights a user gets the new
release of every route or of none.
"""

import secrets
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from redis.exceptions import RedisClusterException, ResponseError

from control import homes, keyspace
from control.errors import BROKEN_RULE, UNKNOWN_REFERENCE, BadInput, Conflict, NotFound
from control.grouprollout import storage as group_storage
from control.groups import move
from control.registry import rules
from control.routes import transitions
from control.routes.changes import Reason
from control.routes.emergencies import Emergency, emergency
from control.routes.views import RouteData, RouteOut, read
from control.store import Store, load_script, text
from control.windows.check import guard
from gateway.contract import keys
from gateway.contract.bucketing import BUCKETS
from gateway.contract.snapshot import RouteState

_encoder = msgspec.json.Encoder()


class GroupIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    routes: Annotated[list[str], msgspec.Meta(min_length=2, max_length=50)]
    reason: Reason


class ChangeSetIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`flip`: each route's `releases[route]` gets `percent`, its stable the rest; `promote`:
    each of those releases becomes stable at 100%; `rollback`: every route to its stable."""

    action: Literal["flip", "promote", "rollback"] = "flip"
    releases: dict[str, str] = {}  # route -> its new release (flip, promote)
    percent: float = 0.0
    reason: Reason
    # override a freeze (flip, promote); any emergency change set leaves a needs-review item
    # on every route of the group
    emergency: bool = False


class GroupOut(msgspec.Struct, frozen=True, kw_only=True):
    """A group and its routes (`PUT` and `GET /admin/groups/{name}`)."""

    group: str
    routes: list[RouteOut]


class ChangeSetOut(msgspec.Struct, frozen=True, kw_only=True):
    changeset: str  # shared by the audit entries of every route
    revisions: dict[str, int]  # route -> its revision after the change set


async def join(store: Store, group: str, body: GroupIn, *, actor: str) -> list[RouteData]:
    """Put routes into a group (one audited change per route; users are re-bucketed). A route
    not yet in the group's slot moves there (`control.groups.move`); one with a running rollout
    is refused. Leaving a group is not supported: delete and recreate the route."""
    rules.check_name("group", group)
    running = await group_storage.read(store, group)
    if running is not None and running.active:  # its members are fixed for its lifetime
        raise Conflict(
            f"group: {group!r} has the rollout {running.id} ({running.status}); routes join it "
            "once that has ended",
            field="group",
            code="rollout_exists",
        )
    datas = [await read(store, route) for route in body.routes]
    for data in datas:
        if data.state.group not in (None, group):
            raise Conflict(
                f"routes: route {data.state.name!r} is in group {data.state.group!r}",
                field="routes",
            )
    joined = []
    for data in datas:
        route = data.state.name
        home = await homes.group_of(store.redis, route)
        if home != group or await move.unfinished(store, route, group):
            state = await move.move_in(store, route, group, actor=actor, reason=body.reason)
            joined.append(RouteData(state=state, releases=data.releases, meta=data.meta))
            continue
        state = msgspec.structs.replace(data.state, revision=data.state.revision + 1, group=group)
        outcome = await store.commit_route(
            data.state.revision, state, action="group.join", actor=actor, reason=body.reason
        )
        if outcome.status != "ok":
            raise Conflict(f"route {route!r} moved; try again", code="busy")
        joined.append(RouteData(state=state, releases=data.releases, meta=data.meta))
    return joined


async def members(store: Store, group: str) -> list[RouteData]:
    names = sorted(text(n) for n in await store.redis.smembers(keys.ROUTE_INDEX))
    found = [await read(store, name) for name in names]
    return [data for data in found if data.state.group == group]


def _plan(data: RouteData, body: ChangeSetIn) -> RouteState:
    route, state = data.state.name, data.state
    if body.action == "rollback":
        return transitions.rollback(state, None, data.releases)
    release = body.releases.get(route)
    if release is None:
        raise BadInput(
            f"releases.{route}: name the release of route {route!r}",
            field="releases",
            code=BROKEN_RULE,
        )
    if body.action == "promote":
        return transitions.promote(state, release, data.releases)
    canary = round(body.percent * 100)
    if not 0 <= body.percent <= 100 or abs(canary - body.percent * 100) > 1e-6:
        raise BadInput(
            "percent: 0 to 100 with at most two decimals", field="percent", code=BROKEN_RULE
        )
    weights = {state.stable: BUCKETS - canary, release: canary}
    if release == state.stable:
        weights = {release: BUCKETS}
    return transitions.flip(state, weights, data.releases)


async def apply(
    store: Store, group: str, body: ChangeSetIn, *, actor: str, now: datetime
) -> ChangeSetOut:
    datas = await members(store, group)
    if not datas:
        raise NotFound(f"group: group {group!r} has no routes", field="group")
    unknown = set(body.releases) - {d.state.name for d in datas}
    if unknown:
        raise BadInput(
            f"releases: {sorted(unknown)} are not routes of group {group!r}",
            field="releases",
            code=UNKNOWN_REFERENCE,
        )
    states = [_plan(data, body) for data in datas]
    changeset = secrets.token_hex(6)
    urgent: dict[str, Emergency] = {}
    for data in datas:
        route = data.state.name
        overrode = None
        if body.action != "rollback":  # rollbacks never ask
            overrode = await guard(
                store.redis, route, action=f"change set {body.action}",
                emergency=body.emergency, at=now,
            )  # fmt: skip
        if body.emergency:
            urgent[route] = emergency(
                route, f"group.{body.action}", actor, body.reason, overrode, now
            )
    script = store.redis.register_script(load_script("commit_group.lua"))
    route_keys: list[str] = []
    args: list[bytes | str | int | float] = [
        keys.CHANGES_CHANNEL,
        store.audit_max_entries,
        actor,
        body.reason,
        f"group.{body.action}",
    ]
    found = await homes.all_groups(store.redis)
    for data, state in zip(datas, states, strict=True):
        route = data.state.name
        home = found.get(route)  # the group's slot; a route grouped before homes: its own
        route_keys += [
            keys.route_state(route, home),
            keys.route_releases(route, home),
            keys.route_audit(route, home),
            keys.route_moved(route, home),
            keyspace.reviews(route, home),
        ]
        found_urgent = urgent.get(route)
        extra = msgspec.json.decode(found_urgent.evidence) if found_urgent is not None else {}
        args += [
            data.state.revision,
            _encoder.encode(state),
            _encoder.encode({"changeset": changeset, **extra}),
            found_urgent.review if found_urgent is not None else b"",
        ]
    try:
        reply = await script(keys=route_keys, args=args)
    except (RedisClusterException, ResponseError) as error:
        if isinstance(error, ResponseError) and "CROSSSLOT" not in str(error):
            raise
        outside = sorted(d.state.name for d in datas if found.get(d.state.name) != group)
        raise Conflict(
            f"routes: {outside} are not in group {group!r}'s slot (grouped before groups had "
            f"one); put them into the group again (PUT /admin/groups/{group}) to move them",
            field="routes",
        ) from None
    status = text(reply[0])
    if status == "moving":
        raise homes.busy(text(reply[1]), text(reply[2]))
    if status == "conflict":
        raise Conflict(
            f"route {text(reply[1])!r} moved (revision {text(reply[2])}); try again",
            code="revision_conflict",
        )
    if status != "ok":
        raise BadInput(
            f"{text(reply[2])} of route {text(reply[1])!r}: {text(reply[3])}",
            field=text(reply[2]),
            code=BROKEN_RULE,
        )
    return ChangeSetOut(changeset=changeset, revisions={s.name: s.revision for s in states})

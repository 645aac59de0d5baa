"""Deleting a route, and what goes with it: the only way a route leaves the gateways.

What an operator expects of each thing that belongs to the route:
- a running (holding, paused) rollout: the deletion is refused (409 naming it); abort it first,
  so traffic is never yanked from under the controller without a decision. The same for an
  active rollout of the route's group (409 naming it): its members are fixed for its lifetime,
  and a group rollout with a member gone can only be aborted. Checked in the deletion's own
  script when the route lives in its group's slot; a route grouped before groups had a slot is
  checked just before;
- the rollout record and history, gate verdicts, review items: removed with the route in one
  atomic step (`delete_route.lua`); open review items are closed by the deletion, whose audit
  entry names them (the route's audit stream is kept);
- windows and webhooks scoped to the route: removed right after (they live in other slots),
  each window with its own audit entry, and both named in the deletion's audit entry and in the
  answer. Their subject is gone: kept, they would silently freeze or report a route created
  later under the same name, which must start clean;
- the affected-user lists (`record_users`, personal data): removed right after; the rest of its
  telemetry (counts, no user keys) expires on its own schedule.
"""

import contextlib

import msgspec

from control import homes
from control.errors import Conflict, NotFound
from control.grouprollout import storage as group_storage
from control.grouprollout.model import GroupRollout
from control.notify import outbox
from control.routes.changes import DeleteIn
from control.routes.views import decode_state
from control.store import Store
from control.windows import store as windows
from gateway.contract import keys
from gateway.contract.telemetry import affected_users


class Deleted(msgspec.Struct, frozen=True, kw_only=True):
    route: str
    deleted: bool  # always True: a missing route is a 404
    revision: int  # the route's last revision
    closed_reviews: list[str]  # open review items the deletion closed (their ids)
    removed_windows: list[str]  # windows scoped to the route, removed with it
    removed_webhooks: list[str]  # webhooks scoped to the route, removed with it


def group_rollout_active(route: str, group: str, rollout_id: str, status: str) -> Conflict:
    return Conflict(
        f"route {route!r} is a member of the {status} rollout {rollout_id} of group {group!r}: "
        f"abort or finish it first (POST /admin/groups/{group}/rollouts/abort)",
        code="group_rollout_active",
    )


async def _refuse_outside_slot(store: Store, route: str, home: str | None) -> None:
    """A grouped route still in its own slot: its group's rollout cannot be read by the
    deletion's script (another slot), so it is checked here first."""
    if home is not None:
        return  # the script checks it atomically
    raw = await store.redis.get(keys.route_state(route))
    group = decode_state(raw).group if raw is not None else None
    running: GroupRollout | None = None
    if group is not None:
        running = await group_storage.read(store, group)
    if running is not None and running.active:
        raise group_rollout_active(route, running.group, running.id, running.status)


async def delete_route(store: Store, route: str, body: DeleteIn, *, actor: str) -> Deleted:
    scoped_windows = [w.name for w in await windows.load(store.redis) if w.route == route]
    scoped_hooks = [h.name for h in await outbox.load_webhooks(store.redis) if h.route == route]
    home = await homes.group_of(store.redis, route)
    await _refuse_outside_slot(store, route, home)
    outcome = await store.delete_route(
        route,
        actor=actor,
        reason=body.reason,
        windows=tuple(scoped_windows),
        webhooks=tuple(scoped_hooks),
    )
    if outcome.status == "not_found":
        raise NotFound(f"route {route!r} does not exist", field="route")
    if outcome.rollout is not None:
        release, status = outcome.rollout
        raise Conflict(
            f"route {route!r} has a {status} rollout of release {release}: abort it first "
            f"(POST /admin/routes/{route}/rollouts/abort)",
            code="rollout_active",
        )
    if outcome.group_rollout is not None:
        assert home is not None
        rollout_id, status = outcome.group_rollout
        raise group_rollout_active(route, home, rollout_id, status)
    assert outcome.revision is not None
    # Read again: a window or webhook scoped to the route since the first read goes too.
    reason = f"route {route} deleted: {body.reason}"
    removed_windows = sorted(
        {w.name for w in await windows.load(store.redis) if w.route == route} | set(scoped_windows)
    )
    for name in removed_windows:
        with contextlib.suppress(NotFound):  # already deleted by someone else
            await windows.delete(store, name, actor=actor, reason=reason)
    removed_hooks = sorted(
        {h.name for h in await outbox.load_webhooks(store.redis) if h.route == route}
        | set(scoped_hooks)
    )
    for name in removed_hooks:
        with contextlib.suppress(NotFound):
            await outbox.delete_webhook(store.redis, name)
    if outcome.releases:  # in the route's own telemetry slot, not its home: a step of its own
        await store.redis.delete(*(affected_users(route, r) for r in outcome.releases))
    return Deleted(
        route=route,
        deleted=True,
        revision=outcome.revision,
        closed_reviews=outcome.closed_reviews,
        removed_windows=removed_windows,
        removed_webhooks=removed_hooks,
    )

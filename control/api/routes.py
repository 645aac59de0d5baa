"""Admin endpoints for routes: create, read, add releases, flip, promote, roll back, pin,
kill switch, set the retry policy, delete, and resolve a sticky key. Every change is one
atomic, audited step (`control.routes.changes`, `control.routes.operations`).
"""

import msgspec

from control.api.endpoint import Call, endpoint
from control.registry.releases import ReleaseIn
from control.reviews import store as reviews
from control.routes import changes, deletion, operations, views
from control.routes.resolve import Resolution, ResolveQuery, resolve
from control.windows.check import active_freeze


@endpoint(
    "POST", "/admin/routes", role="admin", summary="Create a route with r1 at 100%", status=201
)
async def create_route(call: Call, body: changes.RouteIn) -> views.RouteOut:
    data = await changes.create_route(call.store, body, actor=call.actor, now=call.now())
    return views.view(data)


@endpoint("GET", "/admin/routes", role="viewer", summary="List routes")
async def list_routes(call: Call) -> list[views.RouteSummary]:
    return await views.list_routes(call.store)


@endpoint("GET", "/admin/routes/{route}", role="viewer", summary="One route with its releases")
async def get_route(call: Call) -> views.RouteOut:
    return await shown(call, await views.read(call.store, call.param("route")))


async def shown(call: Call, data: views.RouteData) -> views.RouteOut:
    """The route's view with what release operations add: its freeze and open review items."""
    route = data.state.name
    return msgspec.structs.replace(
        views.view(data),
        freeze=await active_freeze(call.store.redis, route, call.now()),
        open_reviews=await reviews.read(call.store, route),
    )


@endpoint(
    "POST",
    "/admin/routes/{route}/releases",
    role="operator",
    summary="New immutable release (at 0% until traffic is moved)",
    status=201,
)
async def create_release(call: Call, body: ReleaseIn) -> views.ReleaseCreated:
    route = call.param("route")
    data, release_id = await changes.add_release(
        call.store, route, body, actor=call.actor, now=call.now()
    )
    return views.ReleaseCreated(
        release=views.release_view(data, release_id), revision=data.state.revision
    )


@endpoint(
    "PUT",
    "/admin/routes/{route}/weights",
    role="operator",
    summary="Compare-and-set flip of the weights (409 on a stale expected_revision)",
)
async def put_weights(call: Call, body: changes.WeightsIn) -> views.RouteOut:
    data = await changes.flip(
        call.store, call.param("route"), body, actor=call.actor, now=call.now()
    )
    return await shown(call, data)


@endpoint(
    "POST",
    "/admin/routes/{route}/promote",
    role="operator",
    summary="Make a release stable at 100%",
)
async def promote(call: Call, body: changes.PromoteIn) -> views.RouteOut:
    data = await changes.promote(
        call.store, call.param("route"), body, actor=call.actor, now=call.now()
    )
    return await shown(call, data)


@endpoint(
    "POST",
    "/admin/routes/{route}/rollback",
    role="operator",
    summary="All traffic back to stable (or to `to`) in one step; always allowed; "
    "a no-op (`changed: false`) when already there",
)
async def rollback(call: Call, body: changes.RollbackIn) -> views.RollbackOut:
    data, changed = await changes.rollback(
        call.store, call.param("route"), body, actor=call.actor, now=call.now()
    )
    state = data.state
    message = (
        f"rolled back: all traffic on {state.stable} (revision {state.revision})"
        if changed
        else f"nothing to do: all traffic is already on {state.stable} (revision {state.revision})"
    )
    if state.kill_switch is not None:
        message += f"; kill switch on {state.kill_switch}"
    view = await shown(call, data)
    return views.RollbackOut(
        **msgspec.structs.asdict(msgspec.structs.replace(view, changed=changed)), message=message
    )


@endpoint(
    "DELETE",
    "/admin/routes/{route}",
    role="admin",
    summary="Delete a route (audited), its rollout, gate verdicts and review items, and the "
    "windows and webhooks scoped to it; 409 while its rollout or its group's is active",
)
async def delete_route(call: Call, body: changes.DeleteIn) -> deletion.Deleted:
    return await deletion.delete_route(call.store, call.param("route"), body, actor=call.actor)


@endpoint(
    "POST",
    "/admin/routes/{route}/pin",
    role="operator",
    summary="Set the pinned mark (audited): the rollout controller holds a pinned route",
)
async def pin(call: Call, body: changes.PinIn) -> views.RouteOut:
    data = await changes.set_pinned(
        call.store, call.param("route"), body, pin=True, actor=call.actor
    )
    return await shown(call, data)


@endpoint("POST", "/admin/routes/{route}/unpin", role="operator", summary="Clear the pinned mark")
async def unpin(call: Call, body: changes.PinIn) -> views.RouteOut:
    data = await changes.set_pinned(
        call.store, call.param("route"), body, pin=False, actor=call.actor
    )
    return await shown(call, data)


@endpoint(
    "POST",
    "/admin/routes/{route}/kill",
    role="operator",
    summary="Kill switch: one release for every call, overriding weights, pins and rollouts "
    "(allowed in a freeze; opens a needs-review item)",
)
async def kill(call: Call, body: operations.KillIn) -> views.RouteOut:
    data = await operations.kill(
        call.store, call.param("route"), body, actor=call.actor, now=call.now()
    )
    return await shown(call, data)


@endpoint("POST", "/admin/routes/{route}/unkill", role="operator", summary="Lift the kill switch")
async def unkill(call: Call, body: changes.PinIn) -> views.RouteOut:
    data = await operations.unkill(call.store, call.param("route"), body, actor=call.actor)
    return await shown(call, data)


@endpoint(
    "PUT",
    "/admin/routes/{route}/retry",
    role="operator",
    summary="Set (or, with null, turn off) the route's retries, retry budget and canary fallback",
)
async def put_retry(call: Call, body: changes.RetryIn) -> views.RouteOut:
    data = await changes.set_retry(call.store, call.param("route"), body, actor=call.actor)
    return await shown(call, data)


@endpoint(
    "GET",
    "/admin/resolve",
    role="viewer",
    summary="Which release a sticky key gets now, with its prompt, model and artifacts",
)
async def resolve_key(call: Call, query: ResolveQuery) -> Resolution:
    return resolve(await views.read(call.store, query.route), query.key)


ENDPOINTS = [
    create_route,
    list_routes,
    get_route,
    create_release,
    put_weights,
    promote,
    rollback,
    pin,
    unpin,
    delete_route,
    kill,
    unkill,
    put_retry,
    resolve_key,
]

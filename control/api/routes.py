"""Admin endpoints for routes: create, read, add releases, flip, promote, roll back, pin,
delete, and resolve a sticky key. Every change is one atomic, audited step
(`control.routes.changes`).
"""

import msgspec

from control.api.endpoint import Call, endpoint
from control.registry.releases import ReleaseIn
from control.routes import changes, views
from control.routes.resolve import Resolution, ResolveQuery, resolve


class RouteDeleted(msgspec.Struct, frozen=True, kw_only=True):
    route: str
    deleted: bool  # always True: a missing route is a 404
    revision: int  # the route's last revision


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
    return views.view(await views.read(call.store, call.param("route")))


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
    data = await changes.flip(call.store, call.param("route"), body, actor=call.actor)
    return views.view(data)


@endpoint(
    "POST",
    "/admin/routes/{route}/promote",
    role="operator",
    summary="Make a release stable at 100%",
)
async def promote(call: Call, body: changes.PromoteIn) -> views.RouteOut:
    data = await changes.promote(call.store, call.param("route"), body, actor=call.actor)
    return views.view(data)


@endpoint(
    "POST",
    "/admin/routes/{route}/rollback",
    role="operator",
    summary="All traffic back to stable (or to `to`) in one step; always allowed; "
    "a no-op (`changed: false`) when already there",
)
async def rollback(call: Call, body: changes.RollbackIn) -> views.RollbackOut:
    data, changed = await changes.rollback(call.store, call.param("route"), body, actor=call.actor)
    state = data.state
    message = (
        f"rolled back: all traffic on {state.stable} (revision {state.revision})"
        if changed
        else f"nothing to do: all traffic is already on {state.stable} (revision {state.revision})"
    )
    view = views.view(data)
    return views.RollbackOut(
        **msgspec.structs.asdict(msgspec.structs.replace(view, changed=changed)), message=message
    )


@endpoint(
    "DELETE",
    "/admin/routes/{route}",
    role="admin",
    summary="Delete a route (audited); the only way a route leaves the gateways",
)
async def delete_route(call: Call, body: changes.DeleteIn) -> RouteDeleted:
    route = call.param("route")
    revision = await changes.delete_route(call.store, route, body, actor=call.actor)
    return RouteDeleted(route=route, deleted=True, revision=revision)


@endpoint(
    "POST",
    "/admin/routes/{route}/pin",
    role="operator",
    summary="Set the pinned mark (audited; nothing acts on it yet: no automation exists)",
)
async def pin(call: Call, body: changes.PinIn) -> views.RouteOut:
    data = await changes.set_pinned(
        call.store, call.param("route"), body, pin=True, actor=call.actor
    )
    return views.view(data)


@endpoint("POST", "/admin/routes/{route}/unpin", role="operator", summary="Clear the pinned mark")
async def unpin(call: Call, body: changes.PinIn) -> views.RouteOut:
    data = await changes.set_pinned(
        call.store, call.param("route"), body, pin=False, actor=call.actor
    )
    return views.view(data)


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
    resolve_key,
]

"""Admin endpoints for freeze and release windows (global or per route)."""

from datetime import datetime
from typing import Annotated

import msgspec

from control.api.endpoint import Call, endpoint
from control.durations import IsoTime, parse_time
from control.registry import rules
from control.routes import views
from control.windows import model, store
from control.windows.check import active_freeze
from control.windows.schedule import FreezeState, open_until


class WindowsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    route: str | None = None  # only windows applying to this route (its own and global ones)
    at: IsoTime | None = None  # evaluate at this instant instead of now


class FreezeQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    route: str
    at: IsoTime | None = None


class DeleteQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # recorded in the audit trail: something to read, not only spaces
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=r"\S")]


def _out(window: model.Window, at: datetime, created: bool = True) -> model.WindowOut:
    opened, until = open_until(window, at)
    return model.WindowOut(
        window=window, open=opened, until=until if opened else None, created=created
    )


async def _check_route(call: Call, route: str | None) -> None:
    if route is not None:
        await views.read(call.store, route)  # 404 for a route that does not exist


@endpoint(
    "PUT",
    "/admin/windows/{name}",
    role="operator",
    summary="Create or replace a freeze or release window (one-off or weekly in a time zone)",
    status=201,
)
async def put_window(call: Call, body: model.WindowIn) -> model.WindowOut:
    name = rules.check_name("name", call.param("name"))
    await _check_route(call, body.route)
    now = call.now()
    window = model.build(name, body, actor=call.actor, now=now)
    created = await store.put(call.store, window, actor=call.actor)
    return _out(window, now, created)


@endpoint(
    "PUT",
    "/admin/freeze",
    role="operator",
    summary="Freeze now (every route or one) until `end` or until the window is deleted",
    status=201,
)
async def put_freeze(call: Call, body: model.FreezeIn) -> model.WindowOut:
    name = rules.check_name("name", body.name)
    await _check_route(call, body.route)
    now = call.now()
    window_in = model.WindowIn(kind="freeze", route=body.route, reason=body.reason, end=body.end)
    window = model.build(name, window_in, actor=call.actor, now=now)
    created = await store.put(call.store, window, actor=call.actor)
    return _out(window, now, created)


@endpoint("GET", "/admin/windows", role="viewer", summary="Windows, with whether each is open")
async def list_windows(call: Call, query: WindowsQuery) -> list[model.WindowOut]:
    at = parse_time("at", query.at) if query.at is not None else call.now()
    found = await store.load(call.store.redis)
    if query.route is not None:
        found = [w for w in found if w.route in (None, query.route)]
    return [_out(w, at) for w in found]


@endpoint(
    "GET",
    "/admin/freeze",
    role="viewer",
    summary="Whether a route is frozen now (or at `at`), and by which window",
)
async def get_freeze(call: Call, query: FreezeQuery) -> FreezeState:
    at = parse_time("at", query.at) if query.at is not None else call.now()
    return FreezeState(
        route=query.route, at=at, freeze=await active_freeze(call.store.redis, query.route, at)
    )


@endpoint(
    "DELETE",
    "/admin/windows/{name}",
    role="operator",
    summary="Delete a window (ends a freeze); ?reason= is recorded in the audit trail",
)
async def delete_window(call: Call, query: DeleteQuery) -> model.Window:
    return await store.delete(call.store, call.param("name"), actor=call.actor, reason=query.reason)


ENDPOINTS = [put_window, put_freeze, list_windows, get_freeze, delete_window]

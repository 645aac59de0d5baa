"""Admin endpoints for blast radius: a release's impact, its affected users (opt-in), and the
route's opt-in switch for recording them."""

import time

import msgspec

from control.api.endpoint import Call, endpoint
from control.api.routes import shown
from control.durations import DurationOrTime
from control.impact.compute import Impact
from control.impact.read import read_impact
from control.impact.users import AffectedUser, read_users
from control.routes import operations, views
from control.routes.audit import since_ms


class ImpactQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    since: DurationOrTime = (
        "2h"  # a duration back from now ("90m", "2h", "2d") or an ISO time; max 2 days
    )


def _since_s(query: ImpactQuery, now_s: int) -> int:
    start_ms = since_ms(query.since, time.time())
    assert start_ms is not None
    return min(start_ms // 1000, now_s)


@endpoint(
    "GET",
    "/admin/routes/{route}/releases/{release}/impact",
    role="viewer",
    summary="Calls, distinct users, error and thumbs-down rates and cost of a release, next to "
    "stable's over the same minutes, and per minute",
)
async def get_impact(call: Call, query: ImpactQuery) -> Impact:
    data = await views.read(call.store, call.param("route"))
    now_s = int(call.now().timestamp())
    return await read_impact(
        call.store.redis, data, call.param("release"), _since_s(query, now_s), now_s
    )


@endpoint(
    "GET",
    "/admin/routes/{route}/releases/{release}/users",
    role="operator",
    summary="Affected user keys of a release (personal data; only for routes recording users)",
)
async def get_users(call: Call, query: ImpactQuery) -> list[AffectedUser]:
    data = await views.read(call.store, call.param("route"))
    now_s = int(call.now().timestamp())
    return await read_users(
        call.store.redis, data, call.param("release"), _since_s(query, now_s), now_s
    )


@endpoint(
    "PUT",
    "/admin/routes/{route}/record-users",
    role="admin",
    summary="Opt in or out of recording affected user keys (personal data) with a retention",
)
async def put_record_users(call: Call, body: operations.RecordUsersIn) -> views.RouteOut:
    data = await operations.record_users(call.store, call.param("route"), body, actor=call.actor)
    return await shown(call, data)


ENDPOINTS = [get_impact, get_users, put_record_users]

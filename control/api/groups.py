"""Admin endpoints for route groups: join routes into a group, list it, apply a change set."""

from control.api.endpoint import Call, endpoint
from control.groups import changes
from control.groups.changes import GroupOut
from control.registry import rules
from control.routes import views


@endpoint(
    "PUT",
    "/admin/groups/{name}",
    role="admin",
    summary="Put routes into a group: one bucketing salt, canaries on one side, one slot",
)
async def put_group(call: Call, body: changes.GroupIn) -> GroupOut:
    group = call.param("name")
    joined = await changes.join(call.store, group, body, actor=call.actor)
    return GroupOut(group=group, routes=[views.view(d) for d in joined])


@endpoint("GET", "/admin/groups/{name}", role="viewer", summary="The routes of a group")
async def get_group(call: Call) -> GroupOut:
    group = rules.check_name("name", call.param("name"))
    found = await changes.members(call.store, group)
    return GroupOut(group=group, routes=[views.view(d) for d in found])


@endpoint(
    "POST",
    "/admin/groups/{name}/changes",
    role="operator",
    summary="Flip, promote or roll back every route of the group in one atomic, audited step",
)
async def post_changes(call: Call, body: changes.ChangeSetIn) -> changes.ChangeSetOut:
    group = rules.check_name("name", call.param("name"))
    return await changes.apply(call.store, group, body, actor=call.actor, now=call.now())


ENDPOINTS = [put_group, get_group, post_changes]

"""Admin endpoints of the eval gate: post a verdict on a candidate release, read it back."""

import msgspec

from control.api.endpoint import Call, endpoint
from control.errors import BROKEN_RULE, BadInput
from control.eval import gate
from control.eval.record import GateRecord
from control.routes import views

GATE_PATH = "/admin/routes/{route}/releases/{release}/gate"


@endpoint(
    "PUT",
    GATE_PATH,
    role="operator",
    summary="Store the eval gate's verdict on a candidate release (posted by `turnout eval run`)",
)
async def put_gate(call: Call, body: GateRecord) -> gate.GateView:
    route, release = call.param("route"), call.param("release")
    if body.route != route:
        raise BadInput(
            f"route: {body.route!r} differs from the path's {route!r}",
            field="route",
            code=BROKEN_RULE,
        )
    if body.candidate != release:
        raise BadInput(
            f"candidate: {body.candidate!r} differs from the path's {release!r}",
            field="candidate",
            code=BROKEN_RULE,
        )
    await gate.save(call.store, msgspec.structs.replace(body, actor=call.actor))
    return await gate.view(call.store, route, release)


@endpoint(
    "GET",
    GATE_PATH,
    role="viewer",
    summary="The release's eval verdict, whether it is stale (and why), and its Markdown report",
)
async def get_gate(call: Call) -> gate.GateView:
    return await gate.view(call.store, call.param("route"), call.param("release"))


@endpoint(
    "GET",
    "/admin/routes/{route}/gates",
    role="viewer",
    summary="Gate status per release with a verdict: pass, fail, insufficient or stale",
)
async def list_gates(call: Call) -> dict[str, gate.Status]:
    route = call.param("route")
    await views.read(call.store, route)  # 404 for an unknown route
    return await gate.statuses(call.store, route)


ENDPOINTS = [put_gate, get_gate, list_gates]

"""Admin endpoints for canary rollouts: start, read (with evidence and its history), the
operator's verbs, and the controller's own status (leader, tick cost)."""

from typing import Any

from aiohttp import web

from control.api.endpoint import Call, endpoint
from control.errors import NotFound
from control.rollout import start as starting
from control.rollout import storage, verbs
from control.rollout.controller import Controller, ControllerStatus
from control.rollout.model import Policy, Progress, Rollout, RolloutIn, RolloutView, VerbIn

CONTROLLER = web.AppKey("turnout_controller", Controller)
POLICIES = web.AppKey("turnout_rollout_policies", dict[str, Any])


def progress(rollout: Rollout, now: float) -> Progress | None:
    if rollout.status not in ("running", "holding"):
        return None
    step = rollout.step
    began = step.snapshot.at if step.snapshot is not None else now
    bake_left = max(rollout.min_bake_s - (now - began), 0.0)
    requests_left = max(rollout.min_requests - rollout.canary_requests, 0)
    parts = [1.0 - bake_left / rollout.min_bake_s if rollout.min_bake_s else 1.0]
    if rollout.min_requests:
        parts.append(min(rollout.canary_requests / rollout.min_requests, 1.0))
    return Progress(
        bake_remaining_s=round(bake_left, 3),
        requests_remaining=requests_left,
        until_deadline_s=round(max(step.deadline_at - now, 0.0), 3),
        fraction=round(min(parts), 4),
    )


async def _view(call: Call, rollout: Rollout) -> RolloutView:
    points = await storage.history(call.store, rollout.route)
    now = call.now().timestamp()
    return RolloutView(rollout=rollout, progress=progress(rollout, now), history=points)


def _policies(call: Call) -> dict[str, Policy]:
    policies: dict[str, Policy] = call.request.app[POLICIES]
    return policies


@endpoint(
    "POST",
    "/admin/routes/{route}/rollouts",
    role="operator",
    summary="Start a canary rollout of a release (409 when the route already has one)",
    status=201,
)
async def start_rollout(call: Call, body: RolloutIn) -> RolloutView:
    rollout = await starting.start(
        call.store,
        call.param("route"),
        body,
        actor=call.actor,
        now=call.now().timestamp(),
        policies=_policies(call),
    )
    return await _view(call, rollout)


@endpoint(
    "GET",
    "/admin/routes/{route}/rollouts",
    role="viewer",
    summary="The route's current (or last) rollout: state, per-guard evidence, its history",
)
async def read_rollout(call: Call) -> RolloutView:
    route = call.param("route")
    rollout = await storage.read(call.store, route)
    if rollout is None:
        raise NotFound(f"route {route!r} has no rollout", field="route")
    return await _view(call, rollout)


def _verb(name: str, summary: str) -> Any:
    async def handler(call: Call, body: VerbIn) -> RolloutView:
        route, now = call.param("route"), call.now().timestamp()
        if name == "pause":
            rollout = await verbs.pause(call.store, route, body, actor=call.actor, now=now)
        elif name == "resume":
            rollout = await verbs.resume(call.store, route, body, actor=call.actor, now=now)
        else:
            rollout = await verbs.end(call.store, route, body, kind=name, actor=call.actor, now=now)
        return await _view(call, rollout)

    handler.__name__ = f"{name}_rollout"
    return endpoint(
        "POST", f"/admin/routes/{{route}}/rollouts/{name}", role="operator", summary=summary
    )(handler)


@endpoint(
    "GET",
    "/admin/controller",
    role="viewer",
    summary="This replica's rollout controller: leader or not, fencing token, tick cost",
)
async def controller_status(call: Call) -> ControllerStatus | None:
    controller = call.request.app.get(CONTROLLER)
    return controller.status() if controller is not None else None


ENDPOINTS = [
    start_rollout,
    read_rollout,
    _verb("pause", "Pause the rollout (the controller stops judging; traffic stays)"),
    _verb("resume", "Resume a paused or held rollout (puts the step's weights back if moved)"),
    _verb("abort", "Abort: all traffic back to the stable release (always allowed)"),
    _verb("promote", "Promote now: the candidate becomes stable at 100%"),
    controller_status,
]

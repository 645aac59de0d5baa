"""Admin endpoints for group rollouts: start one over every route of a group, read it (with the
combined evidence, each route's split and its history), and the operator's verbs."""

from typing import Any

from control.api.endpoint import Call, endpoint
from control.api.rollouts import POLICIES
from control.errors import NotFound
from control.grouprollout import start as starting
from control.grouprollout import storage, verbs
from control.grouprollout.model import GroupRollout, GroupRolloutIn, GroupRolloutView
from control.registry import rules
from control.rollout.model import Policy, Progress, VerbIn


def progress(rollout: GroupRollout, now: float) -> Progress | None:
    if rollout.status not in ("running", "holding"):
        return None
    step = rollout.step
    began = step.judging_at if step.judging_at is not None else now
    bake_left = max(rollout.min_bake_s - (now - began), 0.0)
    parts = [1.0 - bake_left / rollout.min_bake_s if rollout.min_bake_s else 1.0]
    if rollout.min_requests:
        parts.append(min(rollout.canary_requests / rollout.min_requests, 1.0))
    return Progress(
        bake_remaining_s=round(bake_left, 3),
        requests_remaining=max(rollout.min_requests - rollout.canary_requests, 0),
        until_deadline_s=round(max(step.deadline_at - now, 0.0), 3),
        fraction=round(min(parts), 4),
    )


async def _view(call: Call, rollout: GroupRollout) -> GroupRolloutView:
    points = await storage.history(call.store, rollout.group)
    now = call.now().timestamp()
    return GroupRolloutView(rollout=rollout, progress=progress(rollout, now), history=points)


def _group(call: Call) -> str:
    return rules.check_name("name", call.param("name"))


@endpoint(
    "POST",
    "/admin/groups/{name}/rollouts",
    role="operator",
    summary="Start a rollout of the whole group: every route's candidate in one change set per "
    "step, judged on the group's combined guards (409 when a route or the group has one; in a "
    "freeze only with `emergency: true`, which opens a needs-review item on every route)",
    status=201,
)
async def start_group_rollout(call: Call, body: GroupRolloutIn) -> GroupRolloutView:
    policies: dict[str, Policy] = call.request.app[POLICIES]
    rollout = await starting.start(
        call.store,
        _group(call),
        body,
        actor=call.actor,
        now=call.now().timestamp(),
        policies=policies,
    )
    return await _view(call, rollout)


@endpoint(
    "GET",
    "/admin/groups/{name}/rollouts",
    role="viewer",
    summary="The group's current (or last) rollout: state, combined evidence, per-route splits",
)
async def read_group_rollout(call: Call) -> GroupRolloutView:
    group = _group(call)
    rollout = await storage.read(call.store, group)
    if rollout is None:
        raise NotFound(f"group {group!r} has no group rollout", field="name")
    return await _view(call, rollout)


def _verb(name: str, summary: str) -> Any:
    async def handler(call: Call, body: VerbIn) -> GroupRolloutView:
        group, now = _group(call), call.now().timestamp()
        if name == "pause":
            rollout = await verbs.pause(call.store, group, body, actor=call.actor, now=now)
        elif name == "resume":
            rollout = await verbs.resume(call.store, group, body, actor=call.actor, now=now)
        else:
            rollout = await verbs.end(call.store, group, body, kind=name, actor=call.actor, now=now)
        return await _view(call, rollout)

    handler.__name__ = f"{name}_group_rollout"
    return endpoint(
        "POST", f"/admin/groups/{{name}}/rollouts/{name}", role="operator", summary=summary
    )(handler)


ENDPOINTS = [
    start_group_rollout,
    read_group_rollout,
    _verb("pause", "Pause the group rollout (the controller stops judging; traffic stays)"),
    _verb(
        "resume",
        "Resume the group rollout (puts any moved route back at the step's weights; in a freeze "
        "only with `emergency: true`, reviewed on each route put back)",
    ),
    _verb("abort", "Abort: every route of the group back to its stable release in one step"),
    _verb(
        "promote",
        "Promote now: every route's candidate becomes stable at 100% in one step (in a freeze "
        "only with `emergency: true`, reviewed on every route)",
    ),
]

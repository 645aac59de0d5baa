"""Which release a sticky key gets now: the gateway's own bucketing over the stored route.

Pure over `RouteData`; uses `gateway.contract.bucketing`, the code every gateway runs, so the
answer is the release the gateway will serve for that key.
"""

from typing import Any

import msgspec

from control.errors import Conflict
from control.routes.views import RouteData
from gateway.contract.bucketing import cumulative_bounds, release_for_bucket, sticky_bucket
from gateway.contract.snapshot import ModelSpec, PromptSpec


class ResolveQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    route: str
    key: str  # the sticky key: the request's `user` or its X-Turnout-Sticky-Key header


class Resolution(msgspec.Struct, frozen=True, kw_only=True):
    route: str
    key: str
    revision: int  # the route revision this answer holds for
    bucket: int  # in [0, 10000)
    release: str
    prompt: PromptSpec | None
    model: ModelSpec
    params: dict[str, Any]
    artifacts: dict[str, str]  # fetch these (e.g. the retrieval index version) before calling


def resolve(data: RouteData, key: str) -> Resolution:
    state = data.state
    if not state.sticky:
        raise Conflict(
            f"route: route {state.name!r} is not sticky: each call picks a release at random",
            field="route",
            code="not_sticky",
        )
    bucket = sticky_bucket(state.group or state.name, key)  # as the gateway: a group's salt
    bounds, order = cumulative_bounds(
        state.weights_bp, state.stable, one_side=state.group is not None
    )
    release_id = order[0] if len(order) == 1 else release_for_bucket(bounds, order, bucket)
    if state.kill_switch is not None:  # as the gateway does: the kill switch wins
        release_id = state.kill_switch
    spec = data.releases[release_id]
    return Resolution(
        route=state.name,
        key=key,
        revision=state.revision,
        bucket=bucket,
        release=release_id,
        prompt=spec.prompt,
        model=spec.model,
        params=spec.params,
        artifacts=spec.artifacts,
    )

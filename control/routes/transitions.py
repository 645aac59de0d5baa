"""Route state transitions: each returns the next `RouteState` with the revision bumped by one.

Pure functions over the contract Struct; `control.routes.changes` commits their result
atomically. Raise BadInput when the change refers to a release the route does not have.
"""

from collections.abc import Collection, Mapping

import msgspec

from control.errors import UNKNOWN_REFERENCE, BadInput
from gateway.contract.bucketing import BUCKETS
from gateway.contract.snapshot import RouteState


def _require(field: str, release: str, known: Collection[str], route: str) -> None:
    if release not in known:
        raise BadInput(
            f"{field}: unknown release {release!r} of route {route!r} "
            f"(known: {', '.join(sorted(known)) or 'none'})",
            field=field,
            code=UNKNOWN_REFERENCE,
        )


def initial(route: str, release: str, *, sticky: bool) -> RouteState:
    """A new route: its first release stable at 100%, revision 1."""
    return RouteState(
        name=route, revision=1, stable=release, weights_bp={release: BUCKETS}, sticky=sticky
    )


def touched(state: RouteState) -> RouteState:
    """The same pointer at the next revision (a release was added: gateways must load it)."""
    return msgspec.structs.replace(state, revision=state.revision + 1)


def flip(state: RouteState, weights_bp: Mapping[str, int], known: Collection[str]) -> RouteState:
    for release in weights_bp:
        _require(f"weights.{release}", release, known, state.name)
    return msgspec.structs.replace(state, revision=state.revision + 1, weights_bp=dict(weights_bp))


def promote(state: RouteState, release: str, known: Collection[str]) -> RouteState:
    _require("release", release, known, state.name)
    return msgspec.structs.replace(
        state, revision=state.revision + 1, stable=release, weights_bp={release: BUCKETS}
    )


def rollback(state: RouteState, to: str | None, known: Collection[str]) -> RouteState:
    """All traffic to stable (or to `to`, which becomes stable), from any state, in one step."""
    target = state.stable if to is None else to
    _require("to", target, known, state.name)
    return msgspec.structs.replace(
        state, revision=state.revision + 1, stable=target, weights_bp={target: BUCKETS}
    )


def at_rollback_target(state: RouteState, to: str | None) -> bool:
    """The route already is where a rollback (to stable, or to `to`) would put it."""
    target = state.stable if to is None else to
    serving = {release for release, bp in state.weights_bp.items() if bp}
    return state.stable == target and serving == {target}


def pinned(state: RouteState, pin: bool) -> RouteState:
    return msgspec.structs.replace(state, revision=state.revision + 1, pinned=pin)

"""The data epoch: how both planes tell a Redis that lost its data from a fresh one.

The control plane writes `keys.EPOCH` when it initialises a registry; gateways keep the epoch in
their snapshot (and last-known-good file). An epoch that vanishes, or changes without a restore,
means Redis lost its data: whoever sees it leaves the `keys.DATA_LOST` marker. Pure: no I/O here.
"""

import msgspec

# Fields of the data-lost marker hash, set once by the first process that detects the loss.
LOST_REASON = "reason"
LOST_AT = "detected_at"  # unix seconds
LOST_BY = "detected_by"  # "gateway <host>:<pid>" or "control-plane"
LOST_EPOCH = "epoch"  # the epoch id the detector held
LOST_REVISION_PREFIX = "revision:"  # "revision:ROUTE:PROCESS" -> revision that process served


class DataEpoch(msgspec.Struct, frozen=True):
    """One life of a registry. Written by the control plane; read by gateways and restore."""

    id: str  # random, fixed when the registry is initialised; a restore puts the old one back
    created_at: float  # unix seconds the registry was initialised
    restored_at: float | None = None  # unix seconds of the latest restore, if any


class RouteDeletion(msgspec.Struct, frozen=True):
    """Why a route is gone: written with its audited deletion, read by gateways' revision check."""

    deleted_at: float  # unix seconds
    actor: str
    reason: str


epoch_decoder = msgspec.json.Decoder(DataEpoch)
epoch_encoder = msgspec.json.Encoder()


def loss_reason(held: DataEpoch | None, current: DataEpoch | None) -> str | None:
    """Why the data in Redis is not the registry `held` was read from, or None when it is.

    A process that never held an epoch (a fresh install, an older snapshot file) accepts any;
    an epoch changed by a later restore is accepted too (the operator said so)."""
    if held is None:
        return None
    if current is None:
        return f"the data epoch {held.id} is gone from Redis"
    if current.id == held.id:
        return None
    if current.restored_at is not None and current.restored_at > (held.restored_at or 0.0):
        return None
    return f"the data epoch changed from {held.id} to {current.id} without a restore"


def revision_field(route: str, process: str) -> str:
    return f"{LOST_REVISION_PREFIX}{route}:{process}"


def route_of_revision_field(field: str) -> str | None:
    """The route of a "revision:ROUTE:PROCESS" field (route names hold no ':'), else None."""
    if not field.startswith(LOST_REVISION_PREFIX):
        return None
    route, sep, _ = field[len(LOST_REVISION_PREFIX) :].partition(":")
    return route if sep else None

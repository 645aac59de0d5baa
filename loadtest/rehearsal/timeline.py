"""The route's changes during a run, from its audit trail: when each revision was committed (the
entry's time on the load's clock), by whom, and the weights before and after. Pure.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.contract.bucketing import cumulative_bounds


@dataclass(frozen=True)
class Change:
    at_s: float  # load time of the commit (audit entry id: Redis server time, ms)
    revision: int
    action: str
    actor: str
    reason: str
    before: dict[str, float]  # weights in percent
    after: dict[str, float]
    stable_before: str
    stable_after: str

    @property
    def moves_traffic(self) -> bool:
        return self.before != self.after or self.stable_before != self.stable_after


def entry_epoch_s(entry: dict[str, Any]) -> float:
    return int(str(entry["id"]).split("-")[0]) / 1000


def _weights(state: dict[str, Any] | None) -> dict[str, float]:
    raw = (state or {}).get("weights") or {}
    return {str(r): float(w) for r, w in raw.items() if float(w) > 0}


def changes(audit: list[dict[str, Any]], wall0: float) -> list[Change]:
    """Entries that produced a route revision, oldest first."""
    found = []
    for entry in audit:
        after = entry.get("after")
        if entry.get("revision") is None or not isinstance(after, dict) or "weights" not in after:
            continue
        before = entry.get("before") if isinstance(entry.get("before"), dict) else None
        found.append(
            Change(
                at_s=entry_epoch_s(entry) - wall0,
                revision=int(entry["revision"]),
                action=str(entry["action"]),
                actor=str(entry["actor"]),
                reason=str(entry["reason"]),
                before=_weights(before),
                after=_weights(after),
                stable_before=str((before or after).get("stable", "")),
                stable_after=str(after.get("stable", "")),
            )
        )
    found.sort(key=lambda change: change.revision)
    return found


def weight_steps(
    start: dict[str, Any], found: list[Change]
) -> list[tuple[float, dict[str, float]]]:
    """Configured weights as a step function: (from load time, weights), the start first."""
    steps = [(0.0, _weights(start))]
    for change in found:
        if change.revision > int(start["revision"]) and change.after != steps[-1][1]:
            steps.append((max(change.at_s, 0.0), change.after))
    return steps


def assignment(
    weights: dict[str, float], stable: str, buckets: npt.NDArray[np.int64], names: list[str]
) -> npt.NDArray[np.int64]:
    """Index into `names` of the release each bucket gets under these weights (as the gateway
    picks it: `gateway.contract.bucketing`)."""
    if not weights:
        return np.full(buckets.shape, -1, dtype=np.int64)
    weights_bp = {release: round(percent * 100) for release, percent in weights.items()}
    bounds, order = cumulative_bounds(weights_bp, stable)
    slot = np.minimum(np.searchsorted(np.array(bounds), buckets, side="right"), len(order) - 1)
    codes = np.array([names.index(r) if r in names else -1 for r in order], dtype=np.int64)
    return codes[slot]

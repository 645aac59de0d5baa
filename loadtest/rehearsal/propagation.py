"""Flip propagation under load: for each route revision committed during the run, how long until
every replica served it. Pure over the run's records.

Two witnesses per replica, the earlier one wins:
- its `turnout_route_revision` metric: the first poll showing the revision (upper bound), the
  last poll still showing the old one (lower bound);
- its responses: a user whose bucket changes release in this flip and is served the new release
  proves the replica had the revision when it answered (upper bound); served the old one, that
  it did not yet have it when the call was sent (lower bound).
Delays are from the audit entry's commit time (Redis time, truncated to the millisecond, so a
delay may read up to 1 ms long).
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loadtest.rehearsal.records import ANSWERED, CallLog
from loadtest.rehearsal.timeline import Change, assignment
from loadtest.rehearsal.watch import Seen

_WINDOW_S = 5.0  # responses looked at after a flip


@dataclass(frozen=True)
class Replica:
    metric_by_ms: float | None
    headers_by_ms: float | None
    after_ms: float  # the replica certainly did not have it before this
    by_ms: float | None  # the earlier witness; None: never seen (e.g. the run ended first)


@dataclass(frozen=True)
class Flip:
    revision: int
    at_s: float
    action: str
    replicas: list[Replica]

    @property
    def all_by_ms(self) -> float | None:
        """Until every replica served the revision (the slowest replica's upper bound)."""
        times = [r.by_ms for r in self.replicas]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)


def _ms(value: float | None, origin: float) -> float | None:
    return None if value is None else round((value - origin) * 1000, 3)


def _metric(seen: list[Seen], revision: int) -> tuple[float | None, float | None]:
    for item in seen:
        if item.revision >= revision:
            return item.by_s, item.after_s
    return None, None


def _headers(
    log: CallLog,
    rows: npt.NDArray[np.int64],
    new: npt.NDArray[np.int64],
    old: npt.NDArray[np.int64],
) -> tuple[float | None, float | None]:
    served = log.release[rows].astype(np.int64)
    informative = new != old
    proof_new = informative & (served == new)
    by = float(log.done_s[rows][proof_new].min()) if proof_new.any() else None
    proof_old = informative & (served == old)
    sent_old = log.sent_s[rows][proof_old]
    if by is not None:
        sent_old = sent_old[sent_old < by]
    after = float(sent_old.max()) if sent_old.size else None
    return by, after


def flips(
    found: list[Change],
    seen: list[list[Seen]],
    log: CallLog,
    buckets: npt.NDArray[np.int64],
    pinned: npt.NDArray[np.bool_],
    load_s: float,
) -> list[Flip]:
    """`buckets[row]`: the sticky bucket of the row's user; `pinned[row]`: a pinning client's."""
    during = [c for c in found if 0 <= c.at_s <= load_s]
    usable = (log.outcome == ANSWERED) & ~pinned & (log.release >= 0)
    results = []
    for number, change in enumerate(during):
        origin = change.at_s
        end = during[number + 1].at_s if number + 1 < len(during) else origin + _WINDOW_S
        window = usable & (log.done_s >= origin) & (log.sent_s < min(end, origin + _WINDOW_S))
        replicas = []
        for replica, replica_seen in enumerate(seen):
            rows = np.flatnonzero(window & (log.replica == replica))
            b = buckets[rows]
            new = assignment(change.after, change.stable_after, b, log.releases)
            old = assignment(change.before, change.stable_before, b, log.releases)
            header_by, header_after = _headers(log, rows, new, old)
            metric_by, metric_after = _metric(replica_seen, change.revision)
            candidates = [t for t in (metric_by, header_by) if t is not None]
            by = min(candidates) if candidates else None
            lower = max(t for t in (origin, metric_after, header_after) if t is not None)
            replicas.append(
                Replica(
                    metric_by_ms=_ms(metric_by, origin),
                    headers_by_ms=_ms(header_by, origin),
                    after_ms=max(_ms(lower, origin) or 0.0, 0.0),
                    by_ms=_ms(by, origin),
                )
            )
        results.append(Flip(change.revision, origin, change.action, replicas))
    return results


def summary(found: list[Flip]) -> dict[str, float | int | None]:
    delays = np.array([f.all_by_ms for f in found if f.all_by_ms is not None])
    if not delays.size:
        return {
            "flip_count": len(found),
            "measured": 0,
            "p50_ms": None,
            "p99_ms": None,
            "max_ms": None,
        }
    return {
        "flip_count": len(found),
        "measured": int(delays.size),
        "p50_ms": round(float(np.percentile(delays, 50)), 3),
        "p99_ms": round(float(np.percentile(delays, 99)), 3),
        "max_ms": round(float(delays.max()), 3),
    }

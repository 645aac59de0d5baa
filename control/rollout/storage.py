"""Reading and writing a route's rollout record, alone or together with a route change.

Every write compare-and-sets the record's version; the controller's writes also carry its
fencing token, so a stale leader's write is refused (`control/lua/*.lua` check both).
"""

from typing import Any

import msgspec

from control import homes, keyspace
from control.rollout.model import HistoryPoint, Rollout
from control.rollout.record import decode, encode
from control.routes.emergencies import Emergency
from control.store import CommitOutcome, Store
from gateway.contract.snapshot import RouteState

_encoder = msgspec.json.Encoder()
_point_decoder = msgspec.json.Decoder(HistoryPoint)
HISTORY_CAP = 1000  # evidence points kept for plotting (about 17 minutes at one look a second)


async def read(store: Store, route: str) -> Rollout | None:
    raw = await store.redis.get(keyspace.rollout(route, await homes.group_of(store.redis, route)))
    return None if raw is None else decode(raw)


async def history(store: Store, route: str, limit: int = HISTORY_CAP) -> list[HistoryPoint]:
    key = keyspace.rollout_history(route, await homes.group_of(store.redis, route))
    raw = await store.redis.lrange(key, -limit, -1)
    return [_point_decoder.decode(item) for item in raw]


def evidence_json(rollout: Rollout, **extra: Any) -> bytes:
    """What an audit entry of the rollout carries: the step, the last look's evidence, SRM."""
    body: dict[str, Any] = {
        "rollout": {"release": rollout.release, "stable": rollout.stable},
        "step": {"index": rollout.step.index, "percent": rollout.step.percent},
        "guards": rollout.evidence,
        "srm": rollout.srm,
        **extra,
    }
    return _encoder.encode(body)


async def commit_with_route(
    store: Store,
    expected_revision: int,
    state: RouteState,
    before_version: int,
    after: Rollout,
    *,
    action: str,
    actor: str,
    reason: str,
    fence: int | None = None,
    judged: Rollout | None = None,
    urgent: Emergency | None = None,
) -> CommitOutcome:
    """The route change and the rollout's new record in one atomic, audited step; the audit
    entry's evidence is the look that decided it (`judged`, else the new record's). `urgent`:
    an emergency change (a freeze overridden): its evidence joins the entry's and its
    needs-review item is opened in the same step."""
    extra = msgspec.json.decode(urgent.evidence) if urgent is not None else {}
    return await store.commit_route(
        expected_revision,
        state,
        action=action,
        actor=actor,
        reason=reason,
        evidence=evidence_json(judged or after, **extra),
        fence=fence,
        rollout=encode(after),
        rollout_version=before_version,
        review=urgent.review if urgent is not None else b"",
    )


async def put(
    store: Store,
    before_version: int,
    after: Rollout,
    *,
    fence: int | None = None,
    audit: tuple[str, str, str] | None = None,
    point: HistoryPoint | None = None,
) -> CommitOutcome:
    """The record alone; `audit` = (action, actor, reason) appends an audit entry with it."""
    entry = None
    if audit is not None:
        action, actor, reason = audit
        entry = (action, actor, reason, evidence_json(after), after.revision)
    return await store.put_rollout(
        after.route,
        before_version,
        encode(after),
        fence=fence,
        audit=entry,
        history_point=_encoder.encode(point) if point is not None else b"",
        history_cap=HISTORY_CAP,
    )

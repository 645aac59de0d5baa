"""Reading and writing a group rollout's record, alone or with a change set over its routes, in
one atomic script (`commit_group_rollout.lua`) that audits every member route.

Every write compare-and-sets the record's version; the controller's writes also carry its
fencing token, so a stale leader's write is refused.
"""

from typing import Any

import msgspec

from control import homes, keyspace
from control.grouprollout.model import GroupRollout, Member
from control.rollout.model import HistoryPoint
from control.routes.emergencies import Emergency
from control.store import CommitOutcome, Store, load_script, text
from gateway.contract import keys
from gateway.contract.snapshot import RouteState

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(GroupRollout)
_point_decoder = msgspec.json.Decoder(HistoryPoint)
HISTORY_CAP = 1000  # evidence points kept for plotting, as a route rollout's


def encode(rollout: GroupRollout) -> bytes:
    return _encoder.encode(rollout)


async def read(store: Store, group: str) -> GroupRollout | None:
    raw = await store.redis.get(keyspace.group_rollout(group))
    return None if raw is None else _decoder.decode(raw)


async def history(store: Store, group: str, limit: int = HISTORY_CAP) -> list[HistoryPoint]:
    raw = await store.redis.lrange(keyspace.group_rollout_history(group), -limit, -1)
    return [_point_decoder.decode(item) for item in raw]


def evidence_json(rollout: GroupRollout, member: Member, **extra: Any) -> bytes:
    """A member route's audit evidence: the group rollout's id, this route's candidate and split
    check, its own counts, and the combined guards' evidence that decided the step."""
    body: dict[str, Any] = {
        "group_rollout": {"id": rollout.id, "group": rollout.group},
        "rollout": {"release": member.release, "stable": member.stable},
        "step": {"index": rollout.step.index, "percent": rollout.step.percent},
        "guards": rollout.evidence,
        "combined": {
            "canary_requests": rollout.canary_requests,
            "baseline_requests": rollout.baseline_requests,
        },
        "route": {
            "canary_requests": member.canary_requests,
            "baseline_requests": member.baseline_requests,
        },
        "srm": member.srm,
        **extra,
    }
    return _encoder.encode(body)


async def write(
    store: Store,
    before_version: int,
    after: GroupRollout,
    *,
    audit: tuple[str, str, str] | None = None,
    states: dict[str, tuple[int, RouteState]] | None = None,
    fence: int | None = None,
    judged: GroupRollout | None = None,
    point: HistoryPoint | None = None,
    refuse_route_rollouts: bool = False,
    urgent: dict[str, Emergency] | None = None,
) -> CommitOutcome:
    """The record, and with `states` (route -> (expected revision, new state)) the member routes
    moved in the same step. `audit` = (action, actor, reason): one entry on every member route,
    its evidence from `judged` (the look that decided it) or the new record. `urgent` (route ->
    its emergency, with `audit`): that route's entry carries the override and its needs-review
    item is opened in the same step."""
    assert audit is not None or not urgent, "an emergency change is audited"
    await store.guard.check()
    shown = judged or after
    route_keys: list[str] = []
    per_route: list[bytes | str | int] = []
    found = await homes.all_groups(store.redis)
    for member in after.members:
        route = member.route
        home = found.get(route)  # the group's slot; a route grouped before homes: its own
        route_keys += [
            keys.route_state(route, home),
            keys.route_releases(route, home),
            keys.route_audit(route, home),
            keyspace.rollout(route, home),
            keys.route_moved(route, home),
            keyspace.reviews(route, home),
        ]
        moved = (states or {}).get(route)
        emergency = (urgent or {}).get(route)
        extra = msgspec.json.decode(emergency.evidence) if emergency is not None else {}
        per_route += [
            moved[0] if moved is not None else "",
            _encoder.encode(moved[1]) if moved is not None else b"",
            evidence_json(shown, shown.member(route), **extra) if audit is not None else b"",
            emergency.review if emergency is not None else b"",
        ]
    action, actor, reason = audit if audit is not None else ("", "", "")
    script = store.redis.register_script(load_script("commit_group_rollout.lua"))
    reply = await script(
        keys=[
            keyspace.group_rollout(after.group),
            keyspace.group_rollout_fence(after.group),
            keyspace.group_rollout_history(after.group),
            *route_keys,
        ],
        args=[
            keys.CHANGES_CHANNEL,
            store.audit_max_entries,
            actor,
            action,
            reason,
            "" if fence is None else fence,
            before_version,
            encode(after),
            _encoder.encode(point) if point is not None else b"",
            HISTORY_CAP,
            "1" if refuse_route_rollouts else "0",
            *per_route,
        ],
    )
    status = text(reply[0])
    if status == "ok":
        return CommitOutcome(status)
    if status in ("fenced", "rollout_conflict"):
        return CommitOutcome(status, revision=int(reply[1]))
    if status == "conflict":
        return CommitOutcome(status, field=text(reply[1]), revision=int(reply[2]))
    if status == "moving":
        raise homes.busy(after.members[int(reply[1])].route, text(reply[2]))
    if status == "missing":  # deleted (or lost): named by the route, not its Redis key
        route = after.members[int(reply[1])].route
        return CommitOutcome(
            "invalid", field=f"routes.{route}", rule=f"route {route!r} does not exist"
        )
    if status == "route_rollout":
        route, release, state = (text(r) for r in reply[1:4])
        return CommitOutcome(status, field=route, rule=f"{release} ({state})")
    return CommitOutcome(status, field=f"{text(reply[1])}: {text(reply[2])}", rule=text(reply[3]))

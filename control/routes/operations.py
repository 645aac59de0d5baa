"""Release-operation changes of a route: the kill switch (engage, lift) and the opt-in
recording of affected users. Each is one atomic, audited commit (`changes._commit`)."""

from datetime import UTC, datetime

import msgspec

from control.durations import Duration, duration_s
from control.errors import BROKEN_RULE, BadInput
from control.routes import transitions
from control.routes.changes import PinIn, Reason, _commit
from control.routes.emergencies import emergency
from control.routes.views import RouteData, read
from control.store import Store
from gateway.contract.telemetry import affected_users


class KillIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    release: str  # served to every call of the route until the kill switch is lifted
    reason: Reason


async def kill(
    store: Store, route: str, body: KillIn, *, actor: str, now: datetime | None = None
) -> RouteData:
    """Engage the kill switch: always an emergency change, allowed in a freeze, reviewed."""
    urgent = emergency(route, "route.kill", actor, body.reason, None, now or datetime.now(UTC))
    return await _commit(
        store,
        route,
        lambda data: (transitions.kill(data.state, body.release, data.releases), None),
        action="route.kill",
        actor=actor,
        reason=body.reason,
        urgent=urgent,
    )


async def unkill(store: Store, route: str, body: PinIn, *, actor: str) -> RouteData:
    """Lift the kill switch (a normal change: the weights decide again)."""
    data = await read(store, route)
    if data.state.kill_switch is None:
        return data  # nothing to lift, nothing to audit
    return await _commit(
        store,
        route,
        lambda current: (transitions.unkill(current.state), None),
        action="route.unkill",
        actor=actor,
        reason=body.reason,
        expected_revision=body.expected_revision,
    )


class RecordUsersIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Opt-in: keep the sticky keys each release served, for proactive notification. These are
    personal data: off by default, kept only `retention`, deleted when switched off."""

    enabled: bool
    retention: Duration = "30d"  # "12h", "30d", … above 0, at most 365d
    reason: Reason


MAX_USER_RETENTION_S = 365 * 86400


async def record_users(store: Store, route: str, body: RecordUsersIn, *, actor: str) -> RouteData:
    retention_s = 0
    parsed = duration_s(body.retention)
    if parsed is None:
        raise BadInput(
            f"retention: {body.retention!r} must be a duration like 12h or 30d", field="retention"
        )
    if body.enabled:
        if not 0 < parsed <= MAX_USER_RETENTION_S:
            raise BadInput(
                f"retention: {body.retention!r} must be above 0 and at most 365d",
                field="retention",
                code=BROKEN_RULE,
            )
        retention_s = parsed
    data = await _commit(
        store,
        route,
        lambda current: (transitions.record_users(current.state, retention_s), None),
        action="route.record_users",
        actor=actor,
        reason=body.reason,
    )
    if not body.enabled:  # switched off: the recorded keys go too
        await store.redis.delete(*(affected_users(route, r) for r in data.releases))
    return data

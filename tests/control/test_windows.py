"""Freeze and release windows: recurring hours in a named zone across a DST change (pure), and
through the admin API: promotion refused with a 409 naming the window, rollback allowed, an
emergency override audited and leaving a needs-review item until acknowledged."""

from datetime import UTC, datetime

import pytest

from control.errors import BadInput
from control.windows.model import Recurrence, Window, WindowIn, build
from control.windows.schedule import freeze_at, is_open, open_until
from tests.control.conftest import seed_route

ROUTE = "/admin/routes/support"
# Europe/Berlin leaves CET (UTC+1) for CEST (UTC+2) at 01:00 UTC on Sunday 29 March 2026.
WEEKEND = Window(
    name="weekend",
    kind="freeze",
    route=None,
    reason="nobody on call",
    recurring=Recurrence(timezone="Europe/Berlin", days=["fri"], start="17:00", end="08:00"),
)
MONDAY_MORNING = Window(
    name="monday",
    kind="freeze",
    route=None,
    reason="weekly sync",
    recurring=Recurrence(timezone="Europe/Berlin", days=["mon"], start="07:00", end="08:00"),
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-03-27T15:59", False),  # Fri 16:59 CET
        ("2026-03-27T16:00", True),  # Fri 17:00 CET: starts
        ("2026-03-28T06:59", True),  # Sat 07:59 CET, the night after Friday
        ("2026-03-28T07:00", False),  # Sat 08:00 CET: over (the range starts on Fridays only)
        ("2026-04-03T15:00", True),  # Fri 17:00 CEST: one hour earlier in UTC after the change
        ("2026-04-03T14:59", False),
        ("2026-10-23T15:00", True),  # Fri 17:00 CEST, the week before the change back
        ("2026-10-30T16:00", True),  # Fri 17:00 CET again
        ("2026-10-30T15:00", False),
    ],
)
def test_recurring_window_keeps_wall_clock_hours_across_dst(instant, expected):
    assert is_open(WEEKEND, at(instant)) is expected


def test_a_window_on_the_morning_after_the_clocks_change():
    # Monday 07:00-08:00 Berlin: 06:00 UTC before the change, 05:00 UTC after it.
    assert is_open(MONDAY_MORNING, at("2026-03-23T06:30"))
    assert not is_open(MONDAY_MORNING, at("2026-03-23T05:30"))
    assert is_open(MONDAY_MORNING, at("2026-03-30T05:30"))
    assert not is_open(MONDAY_MORNING, at("2026-03-30T06:30"))  # 08:30 CEST: over
    opened, until = open_until(MONDAY_MORNING, at("2026-03-30T05:30"))
    assert opened and until == at("2026-03-30T06:00")  # 08:00 CEST


def test_overnight_window_ends_on_the_day_after_in_local_time():
    opened, until = open_until(WEEKEND, at("2026-03-27T23:00"))
    assert opened and until == at("2026-03-28T07:00")  # Sat 08:00 CET


def test_freeze_and_release_windows_scope():
    one_off = Window(
        name="launch",
        kind="freeze",
        route="support",
        reason="launch day",
        start=at("2026-05-01T00:00"),
        end=at("2026-05-02T00:00"),
    )
    business = Window(
        name="business-hours",
        kind="release",
        route="billing",
        reason="ship while staffed",
        recurring=Recurrence(
            timezone="America/New_York",
            days=["mon", "tue", "wed", "thu", "fri"],
            start="09:00",
            end="17:00",
        ),
    )
    windows = [one_off, business]
    frozen = freeze_at(windows, "support", at("2026-05-01T12:00"))
    assert frozen is not None and frozen.window == "launch" and frozen.until == one_off.end
    assert freeze_at(windows, "support", at("2026-05-02T00:00")) is None  # end is exclusive
    assert freeze_at(windows, "other", at("2026-05-01T12:00")) is None  # another route's
    # billing may change only inside New York business hours (EDT, UTC-4, in May)
    assert freeze_at(windows, "billing", at("2026-05-04T13:00")) is None  # Mon 09:00 EDT
    outside = freeze_at(windows, "billing", at("2026-05-04T12:59"))
    assert outside is not None and outside.kind == "outside_release_window"
    assert freeze_at(windows, "billing", at("2026-05-09T15:00")) is not None  # Saturday


def test_bad_windows_name_the_field():
    now = at("2026-01-01T00:00")
    with pytest.raises(BadInput) as bad_zone:
        rule = Recurrence(timezone="Mars/Olympus", days=["mon"], start="09:00", end="10:00")
        build("x", WindowIn(reason="r", recurring=rule), actor="a", now=now)
    assert bad_zone.value.field == "recurring.timezone"
    with pytest.raises(BadInput) as backwards:
        build("x", WindowIn(reason="r", end=at("2025-12-31T00:00")), actor="a", now=now)
    assert backwards.value.field == "end"


async def promote(api, release="r2", **extra):
    body = {"release": release, "reason": "ship it", **extra}
    return await api.call("POST", f"{ROUTE}/promote", body, role="operator")


async def test_freeze_refuses_promotion_allows_rollback_and_audits_an_emergency(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    frozen = await api.ok("PUT", "/admin/freeze", {"reason": "quarter close"}, role="operator")
    assert frozen["open"] and frozen["window"]["route"] is None
    status, body = await promote(api)
    assert status == 409
    assert body["error"]["code"] == "frozen"
    assert "'freeze'" in body["error"]["message"] and "quarter close" in body["error"]["message"]
    # a flip raising a canary is refused too; one moving traffic back to stable is not
    revision = (await api.ok("GET", ROUTE))["revision"]
    status, body = await api.call(
        "PUT",
        f"{ROUTE}/weights",
        {"weights": {"r1": 90, "r2": 10}, "expected_revision": revision, "reason": "canary"},
        role="operator",
    )
    assert status == 409 and body["error"]["code"] == "frozen"
    back = await api.ok("POST", f"{ROUTE}/rollback", {"reason": "safe"}, role="operator")
    assert back["weights"] == {"r1": 100, "r2": 0}
    shown = await api.ok("GET", ROUTE, role="viewer")
    assert shown["freeze"]["window"] == "freeze" and shown["open_reviews"] == []

    status, body = await promote(api, emergency=True)
    assert status == 200 and body["stable"] == "r2"
    entries = await api.ok("GET", "/admin/audit?route=support&limit=1000")
    promoted = entries[-1]
    assert promoted["action"] == "route.promote"
    assert promoted["evidence"]["emergency"] is True
    assert promoted["evidence"]["overrode"]["window"] == "freeze"
    reviews = (await api.ok("GET", ROUTE))["open_reviews"]
    assert [(r["id"], r["action"], r["actor"]) for r in reviews] == [
        (promoted["id"], "route.promote", "olga")
    ]

    ack_path = f"{ROUTE}/reviews/{promoted['id']}/ack"
    status, body = await api.call("POST", ack_path, {"note": ""}, role="operator")
    assert status == 400 and body["error"]["field"] == "note"
    acked = await api.ok("POST", ack_path, {"note": "checked the traces"}, role="operator")
    assert (acked["status"], acked["ack_by"]) == ("acknowledged", "olga")
    status, body = await api.call("POST", ack_path, {"note": "again"}, role="operator")
    assert status == 409 and body["error"]["code"] == "already_acknowledged"
    assert (await api.ok("GET", ROUTE))["open_reviews"] == []
    everything = await api.ok("GET", f"{ROUTE}/reviews?status=all")
    assert [r["status"] for r in everything] == ["acknowledged"]
    last = (await api.ok("GET", "/admin/audit?route=support&limit=1000"))[-1]
    assert (last["action"], last["reason"]) == ("review.ack", "checked the traces")

    await api.ok("DELETE", "/admin/windows/freeze?reason=closed", role="operator")
    status, body = await promote(api, "r1")
    assert status == 200 and (await api.ok("GET", ROUTE))["freeze"] is None


async def test_window_api_per_route_and_recurring(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    body = {
        "kind": "freeze",
        "route": "support",
        "reason": "weekend",
        "recurring": {
            "timezone": "Europe/Berlin",
            "days": ["fri"],
            "start": "17:00",
            "end": "08:00",
        },
    }
    status, created = await api.call("PUT", "/admin/windows/weekend", body, role="operator")
    assert status == 201 and created["created"]
    status, _ = await api.call("PUT", "/admin/windows/weekend", body, role="operator")
    assert status == 200  # replaced
    listed = await api.ok("GET", "/admin/windows?route=support&at=2026-03-27T16:30:00Z")
    assert [(w["window"]["name"], w["open"]) for w in listed] == [("weekend", True)]
    assert listed[0]["until"].startswith("2026-03-28T07:00")
    state = await api.ok("GET", "/admin/freeze?route=support&at=2026-03-30T06:30:00Z")
    assert state["freeze"] is None
    assert (await api.ok("GET", "/admin/windows?route=other")) == []
    status, error = await api.error(
        "PUT", "/admin/windows/w", {**body, "route": "nope"}, role="operator"
    )
    assert status == 404
    status, error = await api.error(
        "PUT",
        "/admin/windows/w",
        {**body, "recurring": {**body["recurring"], "days": ["someday"]}},
        role="operator",
    )
    assert status == 400 and error["field"] == "recurring.days[0]"
    assert await api.ok("GET", "/admin/windows") != []
    audit = await api.ok("GET", "/admin/audit?limit=1000")
    assert [e["action"] for e in audit if e["action"].startswith("window.")] == [
        "window.put",
        "window.put",
    ]

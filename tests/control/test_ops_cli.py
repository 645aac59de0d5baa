"""The release-operations verbs decode the admin API's answers as its own types and print one
human-readable line (or table) each, against the real control server."""

import re

from tests.conftest import wait_for
from tests.control.conftest import seed_route
from tests.control.test_cli import Cli

ROUTE = "/admin/routes/support"
MINUTE = r"\d{4}-\d\d-\d\d \d\d:\d\d"


async def test_freeze_windows_and_reviews_print_lines(admin, api, capsys):
    cli = Cli(admin, capsys)
    await seed_route(api, "http://127.0.0.1:9/v1")
    code, out, _ = await cli(
        "freeze", "--route", "support", "--until", "2099-01-01T10:30:00Z", "--reason", "launch"
    )
    assert (code, out) == (
        0,
        "window freeze: freeze support: "
        f"{re.search(MINUTE, out).group(0)} -> 2099-01-01 10:30 UTC (launch)\n",
    )
    code, out, _ = await cli("windows", "list", role="viewer")
    [row] = out.splitlines()[1:]
    assert row.split()[:4] == ["freeze", "freeze", "support", row.split()[3]]
    assert "OPEN" in row and "2099-01-01 10:30" in row and row.endswith("launch")
    code, out, _ = await cli("windows", "delete", "freeze", "--reason", "done", role="operator")
    assert out.startswith("window freeze: deleted (freeze support: ")
    assert out.rstrip().endswith("-> 2099-01-01 10:30 UTC)")

    await api.ok("POST", f"{ROUTE}/kill", {"release": "r2", "reason": "bad"}, role="operator")
    code, out, _ = await cli("reviews", "support", role="viewer")
    header, row = out.splitlines()
    review_id = row.split()[0]
    assert header.split()[:3] == ["ID", "STATUS", "CHANGE"]
    assert row.split()[1:4] == ["open", "route.kill", "olga"]
    code, out, _ = await cli(
        "review", "ack", "support", review_id, "--note", "checked", role="operator"
    )
    assert out == f"review {review_id} (route.kill by olga): acknowledged by olga\n"


async def test_webhook_verbs_print_lines(admin, fast_api, receiver, capsys):
    api, (recorder, url) = fast_api, receiver
    cli = Cli(admin, capsys)
    await seed_route(api, "http://127.0.0.1:9/v1")
    code, out, _ = await cli(
        "webhooks", "set", "ops", "--url", url, "--secret-env", "HOOK_SECRET",
        "--events", "weights.changed", "--route", "support", "--max-attempts", "3",
    )  # fmt: skip
    assert out == (
        f"webhook ops: weights.changed on route support -> {url} (json, signed with "
        "$HOOK_SECRET, up to 3 attempts): created\n"
    )
    code, out, _ = await cli("webhooks", "list", role="viewer")
    assert out.splitlines()[1].split() == ["ops", "support", "weights.changed", "json", url]
    revision = (await api.ok("GET", ROUTE))["revision"]
    body = {"weights": {"r1": 90, "r2": 10}, "expected_revision": revision, "reason": "canary"}
    await api.ok("PUT", f"{ROUTE}/weights", body, role="operator")
    await wait_for(lambda: len(recorder.delivered()) == 1, timeout_s=10)
    code, out, _ = await cli("webhooks", "deliveries", role="viewer")
    [row] = out.splitlines()[1:]
    delivery_id, kind, status, attempts, http = row.split()[:5]
    assert (kind, status, attempts, http) == ("weights.changed", "delivered", "1", "204")
    code, out, _ = await cli("webhooks", "redeliver", delivery_id, role="operator")
    assert out == f"delivery {delivery_id} (weights.changed): queued again, pending\n"
    code, out, _ = await cli("webhooks", "delete", "ops")
    assert (code, out) == (0, "webhook ops: deleted (0 left)\n")


async def test_impact_record_users_and_timeline_print_lines(admin, api, capsys):
    cli = Cli(admin, capsys)
    await seed_route(api, "http://127.0.0.1:9/v1")
    code, out, _ = await cli("impact", "support", "r2", "--since", "1h", role="viewer")
    first, *table, note = out.splitlines()
    assert re.fullmatch(rf"support r2: 0 minute\(s\) with calls since {MINUTE} UTC", first)
    assert table[1].split()[:4] == ["r2", "0", "0", "0"] and table[2].startswith("r1 (stable")
    assert note == "users: distinct sticky keys (HyperLogLog, ~0.8% error)"
    code, out, _ = await cli("record-users", "support", "--on", "--reason", "incident")
    assert out == "support: recording affected user keys for 30d\n"
    code, out, err = await cli("impact", "support", "r2", "--users", role="operator")
    assert (code, out) == (0, "key,last_seen\n"), err
    code, out, _ = await cli("timeline", "support", "--since", "1h", role="viewer")
    assert code == 0 and out.startswith("#") and "support" in out.splitlines()[0]
    code, out, _ = await cli("timeline", "support", "--format", "json", role="viewer")
    assert '"route": "support"' in out

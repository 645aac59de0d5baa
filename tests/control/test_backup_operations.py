"""Export and restore carry windows, open review items and webhook subscriptions (no secret),
through a wiped real Redis; a damaged file (bad names, version records, references, windows,
reviews, webhooks) is refused with a 400 naming its place, with nothing written."""

import copy

import msgspec
import pytest

from tests.control.conftest import SECRET, redis_contents, seed_route
from tests.control.test_backup import cli

ROUTE = "/admin/routes/support"
WEEKLY = {"timezone": "Europe/Berlin", "days": ["fri"], "start": "17:00", "end": "08:00"}


async def operations(api) -> None:
    await seed_route(api, "http://127.0.0.1:9/v1")
    await api.ok("POST", f"{ROUTE}/kill", {"release": "r2", "reason": "bad"}, role="operator")
    await api.ok("PUT", "/admin/freeze", {"reason": "incident", "route": "support", "name": "f1"})
    await api.ok("PUT", "/admin/windows/weekend", {"reason": "weekend", "recurring": WEEKLY})
    hook = {"url": "http://127.0.0.1:9/hook", "secret_env": "HOOK_SECRET", "max_attempts": 3}
    await api.ok("PUT", "/admin/webhooks/ops", {**hook, "route": "support", "format": "slack"})
    await api.ok("PUT", "/admin/webhooks/all", {**hook, "events": ["review.needed"]})


def ops_of(export: dict) -> tuple:
    return export["windows"], export["reviews"], export["webhooks"]


async def test_windows_reviews_and_webhooks_round_trip(
    api, admin, redis_server, capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    await operations(api)
    backup = tmp_path / "registry.json"
    code, _, err = await cli(admin, capsys, "export", "--out", str(backup))
    assert code == 0 and "2 window(s), 1 open review item(s), 2 webhook(s)" in err
    assert SECRET.encode() not in backup.read_bytes()  # the variable's name only
    before = msgspec.json.decode(backup.read_bytes())
    windows, reviews, webhooks = ops_of(before)
    assert [w["name"] for w in windows] == ["f1", "weekend"]
    assert [r["action"] for r in reviews["support"]] == ["route.kill"]
    assert [(h["name"], h["secret_env"]) for h in webhooks] == [
        ("all", "HOOK_SECRET"),
        ("ops", "HOOK_SECRET"),
    ]

    redis_server.kill()
    redis_server.start()  # wiped
    code, out, err = await cli(admin, capsys, "restore", "--from", str(backup))
    assert code == 0, err
    assert "2 window(s), 1 open review item(s), 2 webhook(s)" in out
    after = await api.ok("GET", "/admin/export")
    assert ops_of(after) == ops_of(before)
    # restored, they work: the freeze holds, the review can be acknowledged
    assert (await api.ok("GET", "/admin/freeze?route=support"))["freeze"]["window"] == "f1"
    review_id = reviews["support"][0]["id"]
    acked = await api.ok("POST", f"{ROUTE}/reviews/{review_id}/ack", {"note": "checked"})
    assert acked["status"] == "acknowledged"
    audit = await api.ok("GET", "/admin/audit?route=support")
    assert "review.ack" in [e["action"] for e in audit]


def damage(path: str, value):
    def apply(doc: dict) -> None:
        *parents, last = path.split("/")
        target = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if callable(value):
            value(target, last)
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return apply


def rename(target: dict, key: str) -> None:
    target["bad name"] = target.pop(key)


def copy_to(new_key: str):
    def apply(target: dict, key: str) -> None:
        target[new_key] = target[key]

    return apply


DAMAGE = [
    ("prompts/support", rename, "export.prompts.bad name", "is not a valid name"),
    ("models/sim-chat", rename, "export.models.bad name", "is not a valid name"),
    ("prompts/support/1", copy_to("0"), "export.prompts.support.0", "start at 1"),
    (
        "prompts/support/1/content_hash",
        "0" * 64,
        "export.prompts.support.1.content_hash",
        "does not match",
    ),
    (
        "prompts/support/1/system",
        "Hello {{ name",
        "export.prompts.support.1.system",
        "",
    ),
    (
        "models/sim-chat/1/provider",
        "ghost",
        "export.models.sim-chat.1.provider",
        "unknown provider 'ghost'",
    ),
    (
        "routes/support/releases/r2/prompt/ref",
        "support@9",
        "export.routes.support.releases.r2.prompt.ref",
        "support@9 is not among the file's versions",
    ),
    (
        "routes/support/releases/r1/model/upstream_model",
        "other",
        "export.routes.support.releases.r1.model",
        "differs from the version sim-chat@1",
    ),
    ("windows/0/route", "ghost", "export.windows.f1.route", "route 'ghost' is not among"),
    ("windows/1/recurring/timezone", "Mars/Base", "export.windows.weekend.recurring.timezone", ""),
    ("reviews/support/0/id", "abc", "export.reviews.support.abc", "audit entry id"),
    ("webhooks/0/url", "ftp://x", "export.webhooks.all.url", "http"),
    ("webhooks/0/max_attempts", 0, "export.webhooks.all.max_attempts", ">= 1"),
    ("webhooks/1/events", ["nope"], "export.webhooks.ops.events[0]", "nope"),
]


@pytest.mark.parametrize(("path", "value", "field", "words"), DAMAGE, ids=[d[2] for d in DAMAGE])
async def test_a_damaged_file_is_refused_naming_the_problem(api, redis, path, value, field, words):
    await operations(api)
    export = await api.ok("GET", "/admin/export")
    doc = copy.deepcopy(export)
    damage(path, value)(doc)
    before = await redis_contents(redis)
    status, error = await api.error(
        "POST", "/admin/restore", {"export": doc, "reason": "x", "force": True}
    )
    assert status == 400, error
    assert error["field"] == field and error["message"].startswith(f"{field}")
    assert words in error["message"]
    assert "b'" not in error["message"] and 'b"' not in error["message"]
    assert await redis_contents(redis) == before  # nothing written
    # the undamaged file restores
    await api.ok("POST", "/admin/restore", {"export": export, "reason": "x", "force": True})

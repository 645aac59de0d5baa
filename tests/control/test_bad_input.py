"""Bad input to the admin API: a 400 whose message names the field and the rule, with nothing
written to Redis."""

import pytest

from tests.control.conftest import redis_contents, seed_route

FLIP = "/admin/routes/support/weights"


def flip(weights, revision=2, **extra):
    return {"weights": weights, "expected_revision": revision, "reason": "test", **extra}


CASES = [
    # (method, path, body, field, words in the message)
    ("PUT", FLIP, flip({"r1": 90, "r2": 5}), "weights", "sum to exactly 100, got 95"),
    ("PUT", FLIP, flip({"r2": -5, "r1": 105}), "weights.r2", "must not be negative"),
    ("PUT", FLIP, flip({"r1": 95, "r2": "5"}), "weights.r2", "must be a number"),
    ("PUT", FLIP, flip({"r1": 95, "r2": None}), "weights.r2", "must be a number"),
    ("PUT", FLIP, flip({"r1": 94.995, "r2": 5.005}), "weights.r1", "at most two decimals"),
    ("PUT", FLIP, flip({"r1": 95, "r9": 5}), "weights.r9", "unknown release 'r9'"),
    ("PUT", FLIP, flip({"r1": 100}, colour="red"), "colour", "unknown field `colour`"),
    ("PUT", FLIP, {"weights": {"r1": 100}, "reason": "x"}, "expected_revision", "missing"),
    ("PUT", FLIP, flip({"r1": 100}, revision="2"), "expected_revision", "Expected `int`"),
    ("PUT", FLIP, flip({"r1": 100}, reason=""), "reason", "length >= 1"),
    (
        "POST",
        "/admin/routes/support/promote",
        {"release": "r7", "reason": "x"},
        "release",
        "unknown release 'r7'",
    ),
    (
        "POST",
        "/admin/routes/support/rollback",
        {"reason": "x", "to": "r7"},
        "to",
        "unknown release 'r7'",
    ),
    (
        "POST",
        "/admin/routes/support/releases",
        {"prompt": "support@9", "model": "sim-chat@1"},
        "prompt",
        "unknown prompt version 'support@9'",
    ),
    (
        "POST",
        "/admin/routes/support/releases",
        {"prompt": "support@1", "model": "gpt@1"},
        "model",
        "unknown model version 'gpt@1'",
    ),
    (
        "POST",
        "/admin/routes/support/releases",
        {"model": "sim-chat@1", "params": {"messages": []}},
        "params.messages",
        "may not be set",
    ),
    (
        "POST",
        "/admin/routes/support/releases",
        {"model": "sim-chat"},
        "model",
        "must be a version reference like 'name@3'",
    ),
    (  # an empty reference is a bad one, not "no prompt"
        "POST",
        "/admin/routes/support/releases",
        {"model": "sim-chat@1", "prompt": ""},
        "prompt",
        "must be a version reference like 'name@3'",
    ),
    (
        "POST",
        "/admin/restore",
        {"reason": "x", "export": None, "snapshot": None},
        None,
        "give exactly one of `export` or `snapshot`",
    ),
    (
        "POST",
        "/admin/routes",
        {"name": "other", "release": {"prompt": "nope@1", "model": "sim-chat@1"}},
        "release.prompt",
        "unknown prompt version",
    ),
    (
        "POST",
        "/admin/routes",
        {"name": "other", "release": {"model": "sim-chat@1", "colour": "red"}},
        "release.colour",
        "unknown field `colour`",
    ),
    (
        "POST",
        "/admin/routes",
        {"name": "bad name", "release": {"model": "sim-chat@1"}},
        "name",
        "not a valid name",
    ),
    (
        "POST",
        "/admin/prompts/support/versions",
        {"system": "Hello {{ name }"},
        "system",
        "unbalanced or invalid placeholder",
    ),
    (
        "POST",
        "/admin/prompts/support/versions",
        {"system": "Hello {{name}}", "variables": ["nme"]},
        "variables",
        "uses {{name}}, which is not declared",
    ),
    (
        "POST",
        "/admin/prompts/support/versions",
        {"system": "Hi", "messages": [{"role": "user", "content": "x", "name": "bob"}]},
        "messages[0].name",
        "unknown field `name`",
    ),
    (
        "POST",
        "/admin/models/gpt/versions",
        {"provider": "nobody", "upstream_model": "gpt-4o"},
        "provider",
        "unknown provider 'nobody'",
    ),
    (
        "POST",
        "/admin/models/gpt/versions",
        {"provider": "sim", "upstream_model": "gpt-4o", "input_usd_per_mtok": -1},
        "input_usd_per_mtok",
        ">= 0",
    ),
    (
        "PUT",
        "/admin/providers/evil",
        {"base_url": "ftp://example.com/v1"},
        "base_url",
        "must be an http:// or https:// URL",
    ),
    (
        "PUT",
        "/admin/providers/evil",
        {"base_url": "https://example.com/v1", "api_key_env": "sk-live-123"},
        "api_key_env",
        "never the key itself",
    ),
    (
        "PUT",
        "/admin/providers/evil",
        {"base_url": "https://example.com/v1", "api_key": "sk-live-123"},
        "api_key",
        "unknown field `api_key`",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field", "words"), CASES)
async def test_bad_input_is_a_400_naming_field_and_rule(
    api, redis, method, path, body, field, words
):
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    assert route["revision"] == 2
    before = await redis_contents(redis)
    status, error = await api.error(method, path, body)
    assert status == 400, error
    assert error["field"] == field
    assert words in error["message"]
    assert await redis_contents(redis) == before


async def test_malformed_json_and_bad_query(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1")
    before = await redis_contents(redis)
    status, body = await api.call("PUT", FLIP, data=b"{not json", headers={"Content-Type": "x"})
    assert status == 400 and body["error"]["field"] == "body"
    status, body = await api.call("GET", "/admin/audit?limit=0")
    assert status == 400 and body["error"]["field"] == "limit"
    status, body = await api.call("GET", "/admin/audit?since=yesterday")
    assert status == 400 and body["error"]["field"] == "since"
    status, body = await api.call("GET", "/admin/audit?colour=red")
    assert status == 400 and body["error"]["field"] == "colour"
    status, body = await api.call("GET", "/admin/resolve?route=support")
    assert status == 400 and body["error"]["field"] == "key"
    status, body = await api.call("GET", "/admin/prompts/support/versions/one")
    assert status == 400 and body["error"]["field"] == "n"
    assert await redis_contents(redis) == before


async def test_unknown_things_are_404_and_unknown_paths_use_the_same_shape(api):
    status, body = await api.call("GET", "/admin/routes/nowhere")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api.call("GET", "/admin/prompts/nothing")
    assert status == 404
    status, body = await api.call("GET", "/admin/nothing-here")
    assert status == 404 and set(body["error"]) == {"message", "field", "code"}


async def test_a_rule_across_fields_is_a_broken_rule_and_a_shape_is_invalid_input(api):
    """The code says whether the OpenAPI schema states the rule (`invalid_input`) or only its
    words do (`broken_rule`: a Struct's cross-field check)."""
    await seed_route(api, "http://127.0.0.1:9/v1")
    status, error = await api.error("POST", "/admin/restore", {"reason": "x"})
    assert (status, error["code"]) == (400, "broken_rule"), error
    status, error = await api.error("POST", "/admin/restore", {"reason": 5, "export": None})
    assert (status, error["code"], error["field"]) == (400, "invalid_input", "reason"), error

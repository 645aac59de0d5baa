"""Bearer tokens and roles on every admin endpoint: 401 without a valid token, 403 for a role
too low, and nothing written either way."""

import pytest

from control.api.auth import parse_tokens
from gateway.contract.settings import SettingsError
from tests.control.conftest import redis_contents, seed_route


def concrete(path: str) -> str:
    path = path.replace("{n}", "1").replace("{name}", "x").replace("{route}", "support")
    path = path.replace("{release}", "r2").replace("{review}", "1-0")
    return path.replace("{delivery}", "x:1-0")


async def operations(api):
    status, document = await api.call("GET", "/admin/openapi.json", role=None)
    assert status == 200
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), concrete(path), operation


async def test_every_protected_endpoint_needs_a_valid_token(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1")
    before = await redis_contents(redis)
    checked = 0
    async for method, path, operation in operations(api):
        assert operation["security"] == [{"bearer": []}], path
        for headers in ({}, {"Authorization": "Bearer not-a-token-at-all"}, {"Authorization": "x"}):
            status, body = await api.call(method, path, {}, role=None, headers=headers)
            assert status == 401, (method, path, headers, body)
            assert body["error"]["code"] == "unauthorized"
        checked += 1
    assert checked == 63  # 33 registry, route, backup, rollout and gate operations; 21 release ops;
    # 3 for the dashboard (series, whoami, the event stream); 6 for group rollouts
    assert await redis_contents(redis) == before


ROLE_OF = {"viewer": 0, "operator": 1, "admin": 2}


async def test_roles_below_the_endpoint_get_403(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1")
    before = await redis_contents(redis)
    refused: list[tuple[str, str, str]] = []
    async for method, path, operation in operations(api):
        needed = operation["x-turnout-role"]
        for role in ("viewer", "operator"):
            if ROLE_OF[role] >= ROLE_OF[needed]:
                continue
            status, body = await api.call(method, path, {}, role=role)
            assert status == 403, (method, path, role, body)
            assert needed in body["error"]["message"]
            refused.append((role, method, path))
    assert ("operator", "PUT", "/admin/providers/x") in refused
    assert ("operator", "POST", "/admin/routes") in refused
    assert ("viewer", "PUT", "/admin/routes/support/weights") in refused
    assert ("operator", "DELETE", "/admin/routes/support") in refused
    assert ("operator", "POST", "/admin/restore") in refused
    # reads are for viewers, except the export (the whole registry is an admin's backup) and the
    # affected-user export (personal data: operators)
    assert sorted(r for r in refused if r[1] == "GET") == [
        ("operator", "GET", "/admin/export"),
        ("viewer", "GET", "/admin/export"),
        ("viewer", "GET", "/admin/routes/support/releases/r2/users"),
    ]
    assert await redis_contents(redis) == before


async def test_viewer_reads_and_operator_flips(api):
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    assert (await api.ok("GET", "/admin/routes", role="viewer"))[0]["name"] == "support"
    body = {"weights": {"r1": 50, "r2": 50}, "expected_revision": route["revision"], "reason": "x"}
    flipped = await api.ok("PUT", "/admin/routes/support/weights", body, role="operator")
    assert flipped["weights"] == {"r1": 50, "r2": 50}


async def test_the_openapi_document_is_public(api):
    status, document = await api.call("GET", "/admin/openapi.json", role=None)
    assert status == 200 and document["openapi"].startswith("3.1")


@pytest.mark.parametrize(
    "text",
    [
        "alice:admin",
        "alice:root:abcdefghijklmnopqrstuvwxyz",
        ":admin:abcdefghijklmnopqrstuvwxyz",
        "alice:admin:short",
    ],
)
def test_bad_token_configuration_fails_fast(text):
    with pytest.raises(SettingsError, match="TURNOUT_ADMIN_TOKENS entry 1"):
        parse_tokens(text)


def test_tokens_may_contain_colons_and_are_not_kept_in_clear():
    [(digest, identity)] = parse_tokens("ci:operator:abc:def:ghi:jkl:mnop")
    assert identity.name == "ci" and identity.role == "operator"
    assert b"abc:def" not in digest and len(digest) == 32

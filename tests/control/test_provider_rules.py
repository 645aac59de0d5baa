"""Providers may not point a key variable at Turnout's own secrets, nor carry credentials; URLs,
time-outs and connection counts are checked against documented ranges."""

import pytest

from tests.control.conftest import redis_contents


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"base_url": "http://127.0.0.1:9/v1", "api_key_env": "TURNOUT_ADMIN_TOKENS"},
         "api_key_env", "Turnout setting"),
        ({"base_url": "http://127.0.0.1:9/v1", "api_key_env": "REDIS_URL"},
         "api_key_env", "Turnout setting"),
        ({"base_url": "https://user:pw@api.example.com/v1"}, "base_url", "credentials"),
        ({"base_url": "http://127.0.0.1:99999/v1"}, "base_url", "invalid port"),
        ({"base_url": "http://127.0.0.1:9/v1 "}, "base_url", "no spaces, control characters"),
        ({"base_url": " http://127.0.0.1:9/v1"}, "base_url", "no spaces, control characters"),
        ({"base_url": "http://127.0.0.1:9/v1\r\nX-Evil: 1"}, "base_url", "no spaces"),
        ({"base_url": "http://exa\nmple.com/v1"}, "base_url", "no spaces"),
        ({"base_url": "http://example.com/v1?key=1"}, "base_url", "query or fragment"),
        ({"base_url": "http://127.0.0.1:9/v1", "timeout_s": 1e300}, "timeout_s", "<= 3600"),
        ({"base_url": "http://127.0.0.1:9/v1", "timeout_s": 0}, "timeout_s", ">= 0.01"),
        ({"base_url": "http://127.0.0.1:9/v1", "max_connections": 1e21},
         "max_connections", "Expected `int`"),
        ({"base_url": "http://127.0.0.1:9/v1", "max_connections": 10**21},
         "max_connections", "<= 10000"),
        ({"base_url": "http://127.0.0.1:9/v1", "max_connections": 0},
         "max_connections", ">= 1"),
    ],
)  # fmt: skip
async def test_refused_with_nothing_written(api, redis, body, field, words):
    before = await redis_contents(redis)
    status, error = await api.error("PUT", "/admin/providers/sim", body)
    assert status == 400
    assert error["field"] == field
    assert words in error["message"]
    assert "pw" not in error["message"]
    assert await redis_contents(redis) == before


async def test_limits_at_their_edges_are_accepted_and_integral_floats_are_integers(api):
    body = {
        "base_url": "https://api.example.com:443/openai/v1",
        "timeout_s": 3600,
        "max_connections": 10000.0,  # JSON Schema's integer: 1.0 is one
    }
    answer = await api.ok("PUT", "/admin/providers/edge", body)
    assert answer["provider"]["max_connections"] == 10000
    assert answer["provider"]["timeout_s"] == 3600
    fractional = {**body, "max_connections": 2.5}
    status, error = await api.error("PUT", "/admin/providers/edge", fractional)
    assert status == 400 and error["field"] == "max_connections"


async def test_an_undeclared_method_is_a_405_with_allow(api, admin, http):
    async with http.delete(f"{admin.url}/admin/routes", headers=admin.auth()) as response:
        assert response.status == 405
        assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}
        assert (await response.json())["error"]["code"] == "method_not_allowed"

"""Providers may not point a key variable at Turnout's own secrets, nor carry credentials."""

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

"""A record in Redis that does not decode is the server's problem (500), never the caller's 400."""

from gateway.contract import keys
from tests.control.conftest import seed_route


async def test_undecodable_stored_state_is_a_500_without_details(api, redis):
    await seed_route(api, "http://127.0.0.1:9/v1")
    await redis.set(keys.route_state("support"), b'{"name": "support", "surprise": 1}')
    status, error = await api.error("GET", "/admin/routes/support", role="viewer")
    assert status == 500
    assert error["code"] == "internal_error"
    assert "surprise" not in error["message"]

"""A first end-to-end call through the real gateway, upstream and Redis."""

from tests import builders
from tests.conftest import publish_route


async def test_chat_call_is_tagged_and_rendered(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish_route(
        redis,
        simulator,
        builders.state("support", {"r1": 100}),
        [builders.release("r1", system="Hi from {{team}}", variables=["team"])],
    )
    gateway = await gateway_factory(redis_server.url)
    body = {
        "model": "support",
        "messages": [{"role": "user", "content": "hello"}],
        "prompt_variables": {"team": "billing"},
    }
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        data = await response.json()
        assert response.headers["X-Turnout-Release"] == "r1"
    assert data["choices"][0]["message"]["content"] == "[Hi from billing] echo: hello"
    sent = simulator.received()[-1].body
    assert "prompt_variables" not in sent
    assert sent["messages"][0] == {"role": "system", "content": "Hi from billing"}

"""The hot path end to end: resolution, rendering, params, tagging, header hygiene."""

import pytest

from tests import builders
from tests.conftest import publish_route


@pytest.fixture
async def support(redis, redis_server, simulator, gateway_factory, monkeypatch):
    monkeypatch.setenv("SIM_KEY", "sk-provider-secret")
    await publish_route(
        redis,
        simulator,
        builders.state("support", {"r1": 100, "r2": 0}),
        [
            builders.release(
                "r1",
                system="You help {{customer}} with {{product}}.",
                variables=["customer", "product"],
                params={"temperature": 0.1},
            ),
            builders.release("r2", system="Second prompt"),
        ],
        api_key_env="SIM_KEY",
    )
    return await gateway_factory(redis_server.url)


def chat_body(**extra):
    return {"model": "support", "messages": [{"role": "user", "content": "hello"}], **extra}


async def test_release_is_applied_and_tagged(support, simulator, http):
    body = chat_body(prompt_variables={"customer": "Ada", "product": "Turnout"}, temperature=0.9)
    async with http.post(f"{support.url}/v1/chat/completions", json=body) as response:
        assert response.status == 200
        data = await response.json()
        headers = response.headers
    assert headers["X-Turnout-Route"] == "support"
    assert headers["X-Turnout-Release"] == "r1"
    assert headers["X-Turnout-Prompt"] == "prompt@1"
    assert headers["X-Turnout-Model"] == "sim-chat@1"
    assert headers["X-Turnout-Call-Id"].startswith("call-")
    assert data["choices"][0]["message"]["content"] == "[You help Ada with Turnout.] echo: hello"
    sent = simulator.received()[-1].body
    assert sent["model"] == "sim-chat"
    assert "prompt_variables" not in sent
    assert sent["messages"] == [
        {"role": "system", "content": "You help Ada with Turnout."},
        {"role": "user", "content": "hello"},
    ]
    assert sent["temperature"] == 0.1  # the release's params win over the caller's


async def test_model_defaults_yield_to_caller_fields(
    redis, redis_server, simulator, gateway_factory, http
):
    model = builders.model(params={"temperature": 0.3, "max_tokens": 50})
    release = builders.ReleaseSpec(id="r1", model=model)
    await publish_route(redis, simulator, builders.state("plain", {"r1": 100}), [release])
    gateway = await gateway_factory(redis_server.url)
    body = {"model": "plain", "messages": [{"role": "user", "content": "x"}], "max_tokens": 7}
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
        assert response.status == 200
        assert response.headers["X-Turnout-Prompt"] == "-"
    sent = simulator.received()[-1].body
    assert sent["temperature"] == 0.3
    assert sent["max_tokens"] == 7
    assert sent["messages"] == [{"role": "user", "content": "x"}]


async def test_provider_key_added_and_caller_secrets_not_forwarded(support, simulator, http):
    headers = {
        "Authorization": "Bearer caller-token",
        "Connection": "keep-alive, X-Private",
        "X-Private": "hop",
        "Proxy-Authorization": "Basic abc",
        "X-Trace": "t-1",
        "X-Turnout-Sticky-Key": "user-1",
    }
    body = chat_body(prompt_variables={"customer": "A", "product": "B"})
    async with http.post(
        f"{support.url}/v1/chat/completions", json=body, headers=headers
    ) as response:
        assert response.status == 200
    seen = simulator.received()[-1].headers
    assert seen["authorization"] == "Bearer sk-provider-secret"
    assert "x-private" not in seen
    assert "proxy-authorization" not in seen
    assert "x-turnout-sticky-key" not in seen
    assert seen["x-trace"] == "t-1"


async def test_pinned_release_is_served(support, http):
    headers = {"X-Turnout-Release": "r2"}
    async with http.post(
        f"{support.url}/v1/chat/completions", json=chat_body(), headers=headers
    ) as response:
        assert response.status == 200
        assert response.headers["X-Turnout-Release"] == "r2"
        data = await response.json()
    assert data["choices"][0]["message"]["content"].startswith("[Second prompt]")


async def test_embeddings_use_the_release_model(support, simulator, http):
    body = {"model": "support", "input": ["a", "bb"]}
    async with http.post(f"{support.url}/v1/embeddings", json=body) as response:
        assert response.status == 200
        data = await response.json()
        assert response.headers["X-Turnout-Release"] == "r1"
    assert len(data["data"]) == 2
    assert simulator.received()[-1].body["model"] == "sim-chat"
    assert simulator.received()[-1].path == "/v1/embeddings"


async def test_models_lists_routes(support, http):
    async with http.get(f"{support.url}/v1/models") as response:
        assert response.status == 200
        data = await response.json()
    assert [m["id"] for m in data["data"]] == ["support"]
    assert data["object"] == "list"


async def test_upstream_connections_are_reused(support, simulator, http):
    body = chat_body(prompt_variables={"customer": "A", "product": "B"})
    for _ in range(20):
        async with http.post(f"{support.url}/v1/chat/completions", json=body) as response:
            assert response.status == 200
    pools = support.context.client._pools
    assert len(pools) == 1
    (pool,) = pools.values()
    assert len(pool._connections) == 1  # sequential calls share one keep-alive connection


async def test_metrics_carry_route_and_release_labels(support, http):
    body = chat_body(prompt_variables={"customer": "A", "product": "B"})
    async with http.post(f"{support.url}/v1/chat/completions", json=body) as response:
        assert response.status == 200
    async with http.get(f"{support.url}/metrics") as response:
        text = await response.text()
    assert 'turnout_requests_total{release="r1",route="support",status_class="2xx"} 1.0' in text
    assert 'turnout_gateway_added_seconds_count{release="r1",route="support"} 1.0' in text
    assert 'turnout_upstream_duration_seconds_count{release="r1",route="support"} 1.0' in text
    async with http.get(f"{support.url}/readyz") as response:
        revision = (await response.json())["routes"]["support"]
    assert revision == 2  # created with r1, then r2 added
    assert f'turnout_route_revision{{route="support"}} {revision:.1f}' in text
    assert "turnout_snapshot_staleness_seconds" in text

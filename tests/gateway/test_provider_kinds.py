"""Provider kinds: the official openai SDK calls Turnout unchanged while the release's provider
speaks Anthropic's Messages API or Azure OpenAI (the simulator's strict modes), streamed and
not; errors reach the SDK in OpenAI's shape; tokens are counted in telemetry for both."""

import openai
import pytest

from gateway.contract.snapshot import ReleaseSpec
from gateway.dialect import AnthropicDialect
from gateway.upstream.exchange import ProtocolError
from simulator.behaviour import Behaviour
from tests import builders
from tests.seeding import seed_provider, seed_route

SYSTEM = "Be brief"
AZURE_VERSION = "2024-10-21"


@pytest.fixture
async def gateway(redis, redis_server, simulator, gateway_factory, monkeypatch):
    monkeypatch.setenv("ANT_KEY", "sk-ant-provider")
    monkeypatch.setenv("AZ_KEY", "az-provider-key")
    providers = [
        builders.provider(simulator.url, name="ant", kind="anthropic", api_key_env="ANT_KEY"),
        builders.provider(
            f"http://127.0.0.1:{simulator.port}",
            name="az",
            kind="azure_openai",
            api_key_env="AZ_KEY",
            api_version=AZURE_VERSION,
        ),
        # no key: Azure itself answers 401, in its own (not OpenAI's) error shape
        builders.provider(
            f"http://127.0.0.1:{simulator.port}",
            name="az-nokey",
            kind="azure_openai",
            api_version=AZURE_VERSION,
        ),
    ]
    for provider in providers:
        await seed_provider(redis, provider)
    for route, provider, upstream in [
        ("claude", "ant", "claude-sim"),
        ("azure", "az", "gpt-deploy"),
        ("azure-nokey", "az-nokey", "gpt-deploy"),
    ]:
        model = builders.model(upstream, provider_name=provider)
        prompt = builders.release("r1", system=SYSTEM).prompt
        release = ReleaseSpec(id="r1", model=model, prompt=prompt)
        await seed_route(redis, builders.state(route, {"r1": 100}), [release])
    return await gateway_factory(redis_server.url)


@pytest.fixture
async def client(gateway):
    async with openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1", api_key="caller-key", max_retries=0
    ) as sdk:
        yield sdk


def tokens(gateway, route):
    stats = gateway.context.recorder.stats_for(route, "r1")
    return stats.tokens_in, stats.tokens_out


async def test_anthropic_non_streaming(client, gateway, simulator):
    raw = await client.chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "user", "content": "what time is it"}],
        temperature=0.2,
        seed=7,  # OpenAI-only: dropped, or the strict Messages API would refuse the call
    )
    completion = raw.parse()
    assert raw.headers["x-turnout-release"] == "r1"
    assert completion.choices[0].message.content == "[Be brief] echo: what time is it"
    assert completion.choices[0].finish_reason == "stop"
    sent = simulator.received()[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-provider"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body["system"] == SYSTEM and sent.body["model"] == "claude-sim"
    assert sent.body["max_tokens"] > 0 and "seed" not in sent.body
    # usage as the simulator counted it (words + 1 per message), reported and recorded
    assert completion.usage.prompt_tokens == 8 and completion.usage.completion_tokens == 7
    assert tokens(gateway, "claude") == (8, 7)


@pytest.mark.parametrize("include_usage", [True, False])
async def test_anthropic_streaming(client, gateway, simulator, include_usage):
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "stream me"}], stream=True, **options
    )
    parts, usage, finish = [], [], []
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish.append(chunk.choices[0].finish_reason)
        if chunk.usage is not None:
            usage.append(chunk.usage)
    assert "".join(parts) == "[Be brief] echo: stream me"
    assert finish[-1] == "stop"
    assert simulator.received()[-1].body["stream"] is True
    if include_usage:
        assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == [(6, 5)]
    else:
        assert usage == []
    assert tokens(gateway, "claude") == (6, 5)  # counted either way


async def test_azure_streamed_and_not(client, gateway, simulator):
    completion = await client.chat.completions.create(
        model="azure", messages=[{"role": "user", "content": "hello"}]
    )
    assert completion.choices[0].message.content == "[Be brief] echo: hello"
    assert completion.model == "gpt-deploy"  # the deployment answered
    sent = simulator.received()[-1]
    assert sent.path == "/openai/deployments/gpt-deploy/chat/completions"
    assert sent.query == f"api-version={AZURE_VERSION}"
    assert sent.headers["api-key"] == "az-provider-key" and "authorization" not in sent.headers
    stream = await client.chat.completions.create(
        model="azure", messages=[{"role": "user", "content": "stream"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "[Be brief] echo: stream"
    # usage asked for on the caller's behalf and hidden from them, but counted
    assert tokens(gateway, "azure") == (5 + 5, 4 + 4)


async def test_azure_embeddings(client, simulator):
    answer = await client.embeddings.create(model="azure", input=["one", "two words"])
    assert len(answer.data) == 2 and answer.usage.prompt_tokens == 3
    assert simulator.received()[-1].path == "/openai/deployments/gpt-deploy/embeddings"


async def test_anthropic_has_no_embeddings(client, simulator):
    with pytest.raises(openai.BadRequestError) as raised:
        await client.embeddings.create(model="claude", input="x")
    assert raised.value.code == "unsupported_by_provider"
    assert "anthropic" in raised.value.message
    assert simulator.received() == []


async def test_caller_credentials_of_any_kind_are_not_forwarded(gateway, simulator, http):
    body = {"model": "claude", "messages": [{"role": "user", "content": "x"}]}
    headers = {"x-api-key": "caller-ant", "api-key": "caller-az", "X-Custom": "kept"}
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200
        # the translated body is JSON: one Content-Type line, the upstream's replaced
        assert r.headers.getall("Content-Type") == ["application/json"]
    sent = simulator.received()[-1].headers
    assert sent["x-api-key"] == "sk-ant-provider" and "api-key" not in sent
    assert sent["x-custom"] == "kept"


@pytest.mark.parametrize(
    ("status", "sdk_error", "code", "expected_status"),
    [
        (429, openai.RateLimitError, "rate_limit_error", 429),
        (529, openai.InternalServerError, "overloaded_error", 503),
        (500, openai.InternalServerError, "api_error", 500),
    ],
)
async def test_anthropic_errors_reach_the_sdk_in_openai_shape(
    client, simulator, status, sdk_error, code, expected_status
):
    simulator.state.behaviours["*"] = Behaviour(status=status, retry_after_s=3)
    with pytest.raises(sdk_error) as raised:
        await client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}]
        )
    error = raised.value
    assert error.status_code == expected_status
    assert set(error.body) == {"message", "type", "param", "code"}
    assert error.code == code
    assert error.response.headers["x-turnout-release"] == "r1"
    if status == 429:
        assert error.response.headers["retry-after"] == "3"


async def test_anthropic_stream_error_before_the_first_byte_is_an_openai_error(client, simulator):
    simulator.state.behaviours["*"] = Behaviour(status=429)
    with pytest.raises(openai.RateLimitError) as raised:
        await client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}], stream=True
        )
    assert raised.value.code == "rate_limit_error"


async def test_azure_own_errors_get_openai_shape(client):
    with pytest.raises(openai.AuthenticationError) as raised:
        await client.chat.completions.create(
            model="azure-nokey", messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.body == {
        "message": "api-key missing",
        "type": "authentication_error",
        "param": None,
        "code": "401",
    }


async def test_anthropic_refusals_name_the_field(client, simulator):
    with pytest.raises(openai.BadRequestError) as raised:
        await client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}], n=2
        )
    assert raised.value.code == "unsupported_by_provider" and raised.value.param == "n"
    assert simulator.received() == []


def _event(payload: bytes) -> bytes:
    return b"event: x\ndata: " + payload + b"\n\n"


def test_an_anthropic_error_event_mid_stream_is_counted_as_a_failure():
    tap = AnthropicDialect().tap({"stream": True})
    start = b'{"type":"message_start","message":{"id":"m1","model":"c","usage":{"input_tokens":4}}}'
    relayed = tap.feed(_event(start))
    assert b'"role":"assistant"' in relayed and tap.failure is None
    error = b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'
    relayed = tap.feed(_event(error))
    assert b'"code":"overloaded_error"' in relayed and relayed.endswith(b"data: [DONE]\n\n")
    assert tap.failure == "upstream_5xx"
    assert tap.usage == (4, 0)


def test_an_anthropic_stream_cut_before_message_stop_ends_with_an_error():
    tap = AnthropicDialect().tap({"stream": True})
    tap.feed(_event(b'{"type":"message_start","message":{"id":"m1","model":"c","usage":{}}}'))
    rest = tap.rest()
    assert b"ended before message_stop" in rest and rest.endswith(b"data: [DONE]\n\n")
    assert tap.failure == "upstream_5xx"


def test_an_oversized_anthropic_event_is_a_protocol_error():
    tap = AnthropicDialect().tap({"stream": True})
    with pytest.raises(ProtocolError):
        tap.feed(b"data: " + b"x" * (tap.event_limit + 1))

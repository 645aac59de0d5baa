"""The official OpenAI SDK, pointed at the gateway, works unchanged through a route name."""

import time

import openai
import pytest

from simulator import answers
from simulator.behaviour import Behaviour
from tests import builders
from tests.conftest import publish_route


@pytest.fixture
async def gateway(redis, redis_server, simulator, gateway_factory):
    await publish_route(
        redis,
        simulator,
        builders.state("assistant", {"r1": 100}),
        [builders.release("r1", system="Be brief")],
    )
    return await gateway_factory(redis_server.url)


@pytest.fixture
async def client(gateway):
    async with openai.AsyncOpenAI(
        base_url=f"{gateway.url}/v1", api_key="caller-key", max_retries=0
    ) as sdk:
        yield sdk


async def test_non_streaming_completion(client, simulator):
    raw = await client.chat.completions.with_raw_response.create(
        model="assistant", messages=[{"role": "user", "content": "what time is it"}]
    )
    completion = raw.parse()
    assert raw.headers["x-turnout-release"] == "r1"
    assert completion.choices[0].message.content == "[Be brief] echo: what time is it"
    assert completion.usage is not None
    # exactly what the upstream answered: it counts words of the messages it received
    expected = answers.completion(simulator.received()[-1].body, 1)["usage"]
    assert expected == {"prompt_tokens": 8, "completion_tokens": 7, "total_tokens": 15}
    assert completion.usage.prompt_tokens == expected["prompt_tokens"]
    assert completion.usage.completion_tokens == expected["completion_tokens"]
    assert completion.usage.total_tokens == expected["total_tokens"]


async def test_streaming_completion(client):
    stream = await client.chat.completions.create(
        model="assistant",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    usage = None
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(parts) == "[Be brief] echo: stream me"
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (6, 5, 11)


async def test_sdk_sees_openai_errors(client):
    with pytest.raises(openai.NotFoundError) as raised:
        await client.chat.completions.create(
            model="missing-route", messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.code == "model_not_found"


async def test_first_chunk_arrives_before_a_stall_ends(client, simulator):
    simulator.state.behaviours["*"] = Behaviour(stall_ms=1500, stall_after_chunks=1)
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "slow"}], stream=True
    )
    first_at = None
    async for chunk in stream:
        if first_at is None:
            first_at = time.perf_counter() - started
            assert chunk.choices[0].delta.role == "assistant"
    total = time.perf_counter() - started
    assert first_at is not None
    assert first_at < 0.5, f"first chunk after {first_at:.3f} s: the stream was buffered"
    assert total >= 1.5

"""OpenAI chat ⇄ Anthropic Messages translation (gateway.translate), checked against the
simulator's strict Anthropic mode over real sockets and against the openai SDK's own types."""

import random

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.shared import ErrorObject

from gateway.errors import GatewayError
from gateway.translate import anthropic
from gateway.translate.anthropic_stream import StreamTranslator
from simulator.behaviour import Behaviour

HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": anthropic.ANTHROPIC_VERSION}
CREATED = 1_700_000_123
CHAT = {
    "model": "claude-sim",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": "hello there"},
    ],
    "temperature": 0.3,
    "stop": "END",
    "user": "customer-42",
    "seed": 7,  # OpenAI-only: not forwarded (Anthropic refuses unknown fields)
    "stream_options": {"include_usage": True},
}
# The same conversation for the simulator's OpenAI mode, with the system texts already merged.
REFERENCE = {**CHAT, "messages": [
    {"role": "system", "content": "You are terse.\n\nAnswer in English."},
    {"role": "user", "content": "hello there"},
]}  # fmt: skip
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def test_request_translation_moves_system_merges_turns_and_maps_parameters():
    body = {
        **CHAT,
        "messages": [
            *CHAT["messages"],
            {"role": "user", "content": [
                {"type": "text", "text": "and this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
            {"role": "tool", "tool_call_id": "call_2", "content": "also"},
        ],
        "max_completion_tokens": 99,
        "tools": TOOLS,
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }  # fmt: skip
    request = anthropic.to_messages_request(body)
    assert request["system"] == "You are terse.\n\nAnswer in English."
    assert [turn["role"] for turn in request["messages"]] == ["user", "assistant", "user"]
    first, tool_use, results = request["messages"]
    assert first["content"] == [
        {"type": "text", "text": "hello there"},
        {"type": "text", "text": "and this"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
    ]
    assert tool_use["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "x"}}
    ]
    assert [block["tool_use_id"] for block in results["content"]] == ["call_1", "call_2"]
    assert request["max_tokens"] == 99 and request["stop_sequences"] == ["END"]
    assert request["metadata"] == {"user_id": "customer-42"}
    expected_tool = {"name": "lookup", "description": "", "input_schema": {"type": "object"}}
    assert request["tools"] == [expected_tool]
    assert request["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "seed" not in request and "stream_options" not in request
    assert anthropic.to_messages_request({"messages": []})["max_tokens"] == 4096


@pytest.mark.parametrize(
    ("change", "field"),
    [({"n": 2}, "n"), ({"logprobs": True}, "logprobs"),
     ({"response_format": {"type": "json_object"}}, "response_format"),
     ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
     ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
      "messages[0].content[0]"),
     ({"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{"}}]}]},
      "messages[0].tool_calls[0].function.arguments")],
)  # fmt: skip
def test_what_anthropic_cannot_honour_is_a_400_naming_the_field(change, field):
    with pytest.raises(GatewayError) as caught:
        anthropic.to_messages_request({**CHAT, **change})
    assert caught.value.status == 400 and caught.value.param == field


async def _messages(http, simulator, body, headers=HEADERS):
    async with http.post(f"{simulator.url}/messages", json=body, headers=headers) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_a_translated_call_answers_like_the_openai_provider(http, simulator):
    status, raw, _ = await _messages(http, simulator, anthropic.to_messages_request(CHAT))
    assert status == 200

    completion = anthropic.to_chat_completion(orjson.loads(raw), CREATED)
    parsed = ChatCompletion.model_validate(completion)  # the openai SDK's own type
    async with http.post(f"{simulator.url}/chat/completions", json=REFERENCE) as response:
        reference = ChatCompletion.model_validate(await response.json())
    assert parsed.choices[0].message.content == reference.choices[0].message.content
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.usage.completion_tokens == reference.usage.completion_tokens
    assert parsed.usage.prompt_tokens > 0
    received = simulator.received()[0]
    assert received.path == "/v1/messages" and received.headers["x-api-key"] == "sk-ant-test"


async def test_the_untranslated_body_is_refused_by_the_strict_simulator(http, simulator):
    status, raw, _ = await _messages(http, simulator, CHAT)
    assert status == 400
    code, body = anthropic.to_openai_error(status, raw)
    assert code == 400 and body["error"]["type"] == "invalid_request_error"
    assert "Extra inputs" in body["error"]["message"]


def _split(raw: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(raw)), 40))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


def _translate(raw: bytes, include_usage: bool, seed: int) -> list[bytes]:
    translator = StreamTranslator(CREATED, include_usage)
    events = [e for piece in _split(raw, random.Random(seed)) for e in translator.feed(piece)]
    assert translator.done
    return events


def _chunks(events: list[bytes]) -> list[ChatCompletionChunk]:

    assert events[-1] == b"data: [DONE]\n\n"
    return [ChatCompletionChunk.model_validate(orjson.loads(e[6:])) for e in events[:-1]]


@pytest.mark.parametrize("include_usage", [True, False])
async def test_stream_translation_split_anywhere(http, simulator, include_usage):
    body = {**anthropic.to_messages_request(CHAT), "stream": True}
    status, raw, headers = await _messages(http, simulator, body)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    for seed in range(5):
        chunks = _chunks(_translate(raw, include_usage, seed))
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "stop" and finishes.count("stop") == 1
        async with http.post(f"{simulator.url}/chat/completions", json=REFERENCE) as response:
            reference = ChatCompletion.model_validate(await response.json())
        assert text == reference.choices[0].message.content
        usage = [c.usage for c in chunks if c.usage is not None]
        if include_usage:
            assert chunks[-1].choices == []
            assert usage[0].completion_tokens == reference.usage.completion_tokens
        else:
            assert usage == []


async def test_tool_calls_translate_both_ways_streamed_and_not(http, simulator):
    body = anthropic.to_messages_request({**CHAT, "tools": TOOLS, "tool_choice": "required"})
    _, raw, _ = await _messages(http, simulator, body)
    whole = ChatCompletion.model_validate(anthropic.to_chat_completion(orjson.loads(raw), CREATED))
    call = whole.choices[0].message.tool_calls[0]
    assert whole.choices[0].finish_reason == "tool_calls" and call.function.name == "lookup"
    _, raw, _ = await _messages(http, simulator, {**body, "stream": True})
    chunks = _chunks(_translate(raw, False, 3))
    deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id == call.id and deltas[0].function.name == "lookup"
    assert "".join(d.function.arguments or "" for d in deltas) == call.function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(("status", "expected", "kind"), [(529, 503, "overloaded_error"),
                                                          (429, 429, "rate_limit_error"),
                                                          (500, 500, "api_error")])  # fmt: skip
async def test_provider_errors_map_to_openai_errors(http, simulator, status, expected, kind):
    simulator.state.behaviours["*"] = Behaviour(status=status, retry_after_s=3)
    code, raw, headers = await _messages(http, simulator, anthropic.to_messages_request(CHAT))
    assert code == status
    mapped, body = anthropic.to_openai_error(code, raw)
    assert mapped == expected and body["error"]["code"] == kind
    if status == 429:
        assert headers["Retry-After"] == "3"

    error = ErrorObject.model_validate(body["error"])  # the openai SDK's error type
    assert error.type == ("rate_limit_error" if status == 429 else "server_error")


def test_a_mid_stream_error_event_ends_the_stream_in_openai_shape():
    translator = StreamTranslator(CREATED, True)
    error = b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'
    raw = b"event: error\ndata: " + error + b"\n\n"
    events = translator.feed(raw)
    assert translator.done and events[-1] == b"data: [DONE]\n\n"
    assert b'"code":"overloaded_error"' in events[0] and b'"message":"busy"' in events[0]


def test_an_endless_event_is_refused_not_buffered():
    translator = StreamTranslator(CREATED, False, max_event_bytes=1000)
    translator.feed(b"data: " + b"x" * 900)
    with pytest.raises(GatewayError) as caught:
        translator.feed(b"y" * 200)
    assert caught.value.status == 502


async def test_simulator_speaks_azure_openai(http, simulator):
    base = simulator.url.removesuffix("/v1")
    url = f"{base}/openai/deployments/gpt-dep/chat/completions"
    body = {"messages": [{"role": "user", "content": "hi"}]}
    async with http.post(url, params={"api-version": "2024-10-21"}, json=body,
                         headers={"api-key": "k"}) as response:  # fmt: skip
        assert response.status == 200
        assert ChatCompletion.model_validate(await response.json()).model == "gpt-dep"
    async with http.post(url, params={"api-version": "2024-10-21"}, json=body) as response:
        assert response.status == 401

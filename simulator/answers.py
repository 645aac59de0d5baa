"""Deterministic answers of the simulated provider: content, usage, SSE chunks. Pure."""

from typing import Any

import orjson


def count_tokens(text: str) -> int:
    return len(text.split())


def prompt_tokens(messages: list[Any]) -> int:
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += count_tokens(content) + 1
    return total


def reply_text(messages: list[Any]) -> str:
    """Echo the last user message, and say which system prompt was seen (for tests)."""
    last = ""
    system = ""
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            continue
        if message.get("role") == "user":
            last = message["content"]
        elif message.get("role") == "system" and not system:
            system = message["content"]
    prefix = f"[{system[:40]}] " if system else ""
    return f"{prefix}echo: {last}"


def completion(body: dict[str, Any], call_number: int, text: str | None = None) -> dict[str, Any]:
    """The answer; `text` replaces the echo (answer quality, see `simulator.quality`)."""
    messages = body.get("messages") or []
    if text is None:
        text = reply_text(messages)
    p_tokens = prompt_tokens(messages)
    c_tokens = count_tokens(text)
    return {
        "id": f"chatcmpl-sim-{call_number}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body.get("model", "sim"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": p_tokens,
            "completion_tokens": c_tokens,
            "total_tokens": p_tokens + c_tokens,
        },
    }


def stream_events(body: dict[str, Any], call_number: int) -> list[bytes]:
    """SSE events: role, one per word, finish, optional usage, [DONE]."""
    messages = body.get("messages") or []
    text = reply_text(messages)
    words = text.split(" ")
    base = {
        "id": f"chatcmpl-sim-{call_number}",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": body.get("model", "sim"),
    }

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    events = [event({"role": "assistant", "content": ""})]
    events += [event({"content": (" " if i else "") + w}) for i, w in enumerate(words)]
    events.append(event({}, "stop"))
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        p_tokens = prompt_tokens(messages)
        c_tokens = count_tokens(text)
        usage = {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": p_tokens,
                "completion_tokens": c_tokens,
                "total_tokens": p_tokens + c_tokens,
            },
        }
        events.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def embedding(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs]
    data = [
        {"object": "embedding", "index": i, "embedding": [float(len(str(x)) % 7), 0.5, -0.25]}
        for i, x in enumerate(items)
    ]
    tokens = sum(count_tokens(str(x)) for x in items)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", "sim"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }

"""The simulator's Anthropic Messages API answers: messages, stream events, errors. Pure.

Strict where Anthropic is strict, so translation bugs show: `max_tokens` is required, unknown
top-level fields are refused, roles must be user or assistant.
"""

from typing import Any

import orjson

from simulator import answers

KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "metadata",
        "tools",
        "tool_choice",
    }
)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def problem(body: dict[str, Any]) -> str | None:
    """Why Anthropic would refuse this body with a 400, or None."""
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        return f"{unknown[0]}: Extra inputs are not permitted"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required (a positive integer)"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: must be user or assistant"
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _openai_view(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation as the OpenAI answers module reads it (system first, text only)."""
    view = [{"role": "system", "content": _text(body["system"])}] if body.get("system") else []
    return view + [
        {"role": m["role"], "content": _text(m.get("content"))} for m in body["messages"]
    ]


def _tool_use(body: dict[str, Any], reply: str) -> dict[str, Any] | None:
    """A tool call when the caller forces one (tool_choice any or tool)."""
    choice = body.get("tool_choice") or {}
    tools = body.get("tools") or []
    if not tools or choice.get("type") not in ("any", "tool"):
        return None
    name = choice.get("name") or tools[0]["name"]
    return {"type": "tool_use", "id": "toolu_sim_1", "name": name, "input": {"echo": reply}}


def message(body: dict[str, Any], call_number: int) -> dict[str, Any]:
    conversation = _openai_view(body)
    reply = answers.reply_text(conversation)
    tool = _tool_use(body, reply)
    content = [tool] if tool else [{"type": "text", "text": reply}]
    return {
        "id": f"msg_sim_{call_number}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": "tool_use" if tool else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": answers.prompt_tokens(conversation),
            "output_tokens": answers.count_tokens(reply),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _event(payload: dict[str, Any]) -> bytes:
    name = str(payload["type"]).encode()
    return b"event: " + name + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def stream_events(body: dict[str, Any], call_number: int) -> list[bytes]:
    """message_start, a ping, one block (text deltas per word, or a tool's JSON in two
    pieces), message_delta with the stop reason and output tokens, message_stop."""
    whole = message(body, call_number)
    usage = whole["usage"]
    start = {**whole, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [_event({"type": "message_start", "message": start}), _event({"type": "ping"})]
    block = whole["content"][0]
    if block["type"] == "tool_use":
        events.append(
            _event(
                {"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}}
            )
        )
        arguments = orjson.dumps(block["input"]).decode()
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(_event({"type": "content_block_delta", "index": 0, "delta": delta}))
    else:
        events.append(
            _event(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                }
            )
        )
        for index, word in enumerate(block["text"].split(" ")):
            delta = {"type": "text_delta", "text": (" " if index else "") + word}
            events.append(_event({"type": "content_block_delta", "index": 0, "delta": delta}))
    events.append(_event({"type": "content_block_stop", "index": 0}))
    events.append(
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            }
        )
    )
    events.append(_event({"type": "message_stop"}))
    return events

"""OpenAI chat completions ⇄ Anthropic Messages: request bodies, responses and error bodies.

Pure functions over decoded JSON (dicts): no I/O, no clock (`created` is passed in). Streams
are translated by `gateway.translate.anthropic_stream`. A request Anthropic cannot honour (several
choices, log-probabilities, a JSON response format) is refused with a 400 naming the field,
rather than answered differently from what the caller asked.
"""

from typing import Any

import orjson

from gateway.errors import GatewayError

ANTHROPIC_VERSION = "2023-06-01"  # the `anthropic-version` header the translation targets
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI callers often leave it out

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic error type → the OpenAI error type an OpenAI client expects for that status.
ERROR_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "not_found_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "rate_limit_error": "rate_limit_error",
    "api_error": "server_error",
    "overloaded_error": "server_error",
}
OVERLOADED_STATUS = 529  # Anthropic's "overloaded"; OpenAI clients know it as 503


def _refuse(field: str, why: str) -> GatewayError:
    return GatewayError(400, f"{field}: {why}", param=field, code="unsupported_by_provider")


def _check_supported(body: dict[str, Any]) -> None:
    if body.get("n") not in (None, 1):
        raise _refuse("n", "anthropic providers return one choice; n must be 1")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise _refuse("logprobs", "anthropic providers return no log-probabilities")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
        raise _refuse("response_format", "anthropic providers have no JSON response format")


def _image(part: dict[str, Any]) -> dict[str, Any]:
    url = str((part.get("image_url") or {}).get("url", ""))
    if url.startswith("data:") and ";base64," in url:
        media_type, _, data = url[5:].partition(";base64,")
        source = {"type": "base64", "media_type": media_type, "data": data}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any, field: str) -> list[dict[str, Any]]:
    """OpenAI message content (a string or a list of parts) as Anthropic content blocks."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _refuse(field, "must be a string or a list of content parts")
    blocks = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            blocks.append(_image(part))
        else:
            raise _refuse(f"{field}[{index}]", f"content part type {kind!r} is not supported")
    return blocks


def _text_of(content: Any, field: str) -> str:
    return "".join(block["text"] for block in _blocks(content, field) if block["type"] == "text")


def _tool_uses(message: dict[str, Any], field: str) -> list[dict[str, Any]]:
    uses = []
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            where = f"{field}.tool_calls[{index}].function.arguments"
            raise _refuse(where, "must be a JSON object") from None
        uses.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": arguments,
            }
        )
    return uses


def _conversation(messages: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """System text, and the turns with consecutive same-role messages merged (Anthropic wants
    user and assistant to alternate; tool results travel as user turns)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        field = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _refuse(field, "must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content"), f"{field}.content"))
            continue
        if role == "user":
            blocks = _blocks(message.get("content"), f"{field}.content")
        elif role == "assistant":
            blocks = _blocks(message.get("content"), f"{field}.content")
            blocks += _tool_uses(message, field)
        elif role == "tool":
            content = _text_of(message.get("content"), f"{field}.content")
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message.get("tool_call_id"),
                    "content": content,
                }
            ]
            role = "user"
        else:
            raise _refuse(f"{field}.role", f"role {role!r} is not supported")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(s for s in system if s), turns


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    tools = body.get("tools")
    if tools:
        fields["tools"] = [
            {
                "name": tool["function"]["name"],
                "description": tool["function"].get("description", ""),
                "input_schema": tool["function"].get("parameters") or {"type": "object"},
            }
            for tool in tools
            if isinstance(tool, dict) and tool.get("type") == "function"
        ]
    choice = body.get("tool_choice")
    mapped: dict[str, Any] | None = None
    if choice in ("auto", "required", "none"):
        mapped = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        mapped = {"type": "tool", "name": choice["function"].get("name")}
    if body.get("parallel_tool_calls") is False and tools:
        mapped = {**(mapped or {"type": "auto"}), "disable_parallel_tool_use": True}
    if mapped is not None:
        fields["tool_choice"] = mapped
    return fields


def to_messages_request(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat body (after the release is applied) as an Anthropic Messages body.
    Fields Anthropic has no counterpart for are not forwarded (it refuses unknown fields)."""
    _check_supported(body)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _refuse("messages", "must be a list")
    system, turns = _conversation(messages)
    request: dict[str, Any] = {
        "model": body.get("model"),
        "messages": turns,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or DEFAULT_MAX_TOKENS,
    }
    if system:
        request["system"] = system
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            request[name] = body[name]
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("stream") is True:
        request["stream"] = True
    if isinstance(body.get("user"), str):
        request["metadata"] = {"user_id": body["user"]}
    request.update(_tools(body))
    return request


def usage(anthropic_usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage as OpenAI's: cached and cache-writing input tokens count as prompt."""
    cached = int(anthropic_usage.get("cache_read_input_tokens") or 0)
    prompt = (
        int(anthropic_usage.get("input_tokens") or 0)
        + int(anthropic_usage.get("cache_creation_input_tokens") or 0)
        + cached
    )
    completion = int(anthropic_usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def tool_call(block: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    arguments = orjson.dumps(block.get("input") or {}).decode()
    function = {"name": block.get("name"), "arguments": arguments}
    call: dict[str, Any] = {"id": block.get("id"), "type": "function", "function": function}
    if index is not None:
        call["index"] = index
    return call


def to_chat_completion(message: dict[str, Any], created: int) -> dict[str, Any]:
    """An Anthropic Messages response as an OpenAI chat.completion."""
    blocks = message.get("content") or []
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    calls = [tool_call(b) for b in blocks if b.get("type") == "tool_use"]
    reply: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": message.get("model"),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(message.get("stop_reason") or "", "stop"),
            }
        ],
        "usage": usage(message.get("usage") or {}),
    }


def to_openai_error(status: int, body: bytes) -> tuple[int, dict[str, Any]]:
    """An Anthropic error answer as (status, OpenAI-shaped error body)."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        decoded = None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if not isinstance(error, dict):
        error = {"type": "api_error", "message": body[:500].decode("utf-8", "replace")}
    kind = str(error.get("type") or "api_error")
    mapped = ERROR_TYPES.get(kind, "server_error" if status >= 500 else "invalid_request_error")
    payload = {
        "message": str(error.get("message") or kind),
        "type": mapped,
        "param": None,
        "code": kind,
    }
    return (503 if status == OVERLOADED_STATUS else status), {"error": payload}

"""Anthropic Messages stream events → OpenAI chat.completion.chunk events, as bytes arrive.

One `StreamTranslator` per streamed call: `feed()` takes upstream bytes split anywhere and
returns whole OpenAI SSE events (`data: {...}\\n\\n`, ending with `data: [DONE]`). Pure: no I/O;
its buffer holds at most one incomplete event, bounded by `max_event_bytes`.
"""

from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.translate.anthropic import FINISH_REASONS, to_openai_error, tool_call, usage

MAX_EVENT_BYTES = 1 << 20
_SEPARATORS = (b"\r\n\r\n", b"\n\n")
DONE = b"data: [DONE]\n\n"


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _data(event: bytes) -> bytes:
    lines = event.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line[5:].lstrip(b" ") for line in lines if line.startswith(b"data:"))


class StreamTranslator:
    def __init__(
        self, created: int, include_usage: bool, max_event_bytes: int = MAX_EVENT_BYTES
    ) -> None:
        self.created = created
        self.include_usage = include_usage
        self.max_event_bytes = max_event_bytes
        self.done = False
        self._buffer = bytearray()
        self._id = ""
        self._model = ""
        self._usage: dict[str, Any] = {}
        self._finish = "stop"
        self._tools: dict[int, int] = {}  # Anthropic content block index → OpenAI tool index

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while not self.done:
            found = [(i, s) for s in _SEPARATORS if (i := self._buffer.find(s)) >= 0]
            if not found:
                break
            end, separator = min(found)
            event = bytes(self._buffer[:end])
            del self._buffer[: end + len(separator)]
            out += self._event(_data(event))
        if len(self._buffer) > self.max_event_bytes:
            raise GatewayError(
                502,
                f"upstream stream event over {self.max_event_bytes} bytes",
                type_="server_error",
                code="upstream_protocol_error",
            )
        return out

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self._model,
                "choices": [choice],
            }
        )

    def _event(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []  # not an event we act on (Anthropic sends only JSON data)
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "message_start":
            message = event.get("message") or {}
            self._id = str(message.get("id", ""))
            self._model = str(message.get("model", ""))
            self._usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "message_delta":
            stop = (event.get("delta") or {}).get("stop_reason")
            self._finish = FINISH_REASONS.get(stop or "", "stop")
            self._usage.update(event.get("usage") or {})
            return []
        if kind == "message_stop":
            return self._finish_events()
        if kind == "error":
            self.done = True
            _, body = to_openai_error(500, orjson.dumps(event))
            return [_sse(body), DONE]
        return []  # ping, content_block_stop, and event types added later

    def _block_start(self, event: dict[str, Any]) -> list[bytes]:
        block = event.get("content_block") or {}
        if block.get("type") == "tool_use":
            index = self._tools.setdefault(int(event.get("index", 0)), len(self._tools))
            call = tool_call({**block, "input": {}}, index)
            call["function"]["arguments"] = ""
            return [self._chunk({"tool_calls": [call]})]
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        return []

    def _delta(self, event: dict[str, Any]) -> list[bytes]:
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [self._chunk({"content": str(delta.get("text", ""))})]
        if delta.get("type") == "input_json_delta":
            index = self._tools.get(int(event.get("index", 0)))
            if index is not None:
                arguments = {"arguments": str(delta.get("partial_json", ""))}
                return [self._chunk({"tool_calls": [{"index": index, "function": arguments}]})]
        return []  # thinking and signature deltas have no OpenAI counterpart

    def _finish_events(self) -> list[bytes]:
        self.done = True
        events = [self._chunk({}, self._finish)]
        if self.include_usage:
            events.append(
                _sse(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self._model,
                        "choices": [],
                        "usage": usage(self._usage),
                    }
                )
            )
        return [*events, DONE]

"""Token usage from upstream answers: a JSON body, or the usage event of an SSE stream. Pure.

`StreamTap` relays complete SSE events as they arrive, reads the usage event, and hides it from
callers who did not ask for usage (the gateway asks for it on their behalf).
"""

from typing import Any

import msgspec
import orjson

Usage = tuple[int, int]  # (prompt tokens, completion tokens)


def usage_of(document: Any) -> Usage | None:
    if not isinstance(document, dict):
        return None
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return prompt, completion


class _UsageCounts(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int = 0


class _WithUsage(msgspec.Struct):
    usage: _UsageCounts | None = None


# Decodes only `usage`: the rest of the answer is skipped without building Python objects.
_usage_decoder = msgspec.json.Decoder(_WithUsage)


def usage_of_body(body: bytes) -> Usage | None:
    if b'"usage"' not in body:
        return None
    try:
        usage = _usage_decoder.decode(body).usage
    except msgspec.DecodeError:  # not JSON, or usage of another shape: no count, no failure
        return None
    return None if usage is None else (usage.prompt_tokens, usage.completion_tokens)


def wants_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def ask_for_usage(payload: dict[str, Any]) -> bool:
    """Make a streaming request report usage; returns whether the caller had asked for it."""
    if wants_usage(payload):
        return True
    options = payload.get("stream_options")
    payload["stream_options"] = {
        **(options if isinstance(options, dict) else {}),
        "include_usage": True,
    }
    return False


class StreamTap:
    __slots__ = ("_hide_usage", "_tail", "usage")

    def __init__(self, hide_usage: bool) -> None:
        self._hide_usage = hide_usage
        self._tail = b""
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to relay now: every complete event so far, the usage event hidden if asked."""
        data = self._tail + chunk if self._tail else chunk
        lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
        end = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
        if end == 0:
            self._tail = data
            return b""
        complete, self._tail = data[:end], data[end:]
        if b'"usage"' not in complete:
            return complete
        separator = b"\r\n\r\n" if crlf > lf else b"\n\n"
        kept = [event for event in complete.split(separator) if self._keep(event)]
        return separator.join(kept)

    def rest(self) -> bytes:
        tail, self._tail = self._tail, b""
        return tail

    def _keep(self, event: bytes) -> bool:
        if b'"usage"' not in event or b'"usage":null' in event:
            return True
        for line in event.splitlines():
            if not line.startswith(b"data:"):
                continue
            try:
                document = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                return True
            usage = usage_of(document)
            if usage is not None:
                self.usage = usage
                return not (self._hide_usage and not document.get("choices"))
        return True

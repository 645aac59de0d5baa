"""How each provider kind speaks on the forward path: request bytes, stream tap, buffered answer.

A release holds one dialect, chosen when its routing table is compiled, so a call makes no
per-kind decision: `openai` passes bodies through untouched, `azure_openai` differs only in
giving its error bodies OpenAI's shape, `anthropic` translates with `gateway.translate`.
"""

import time
from typing import Any, Protocol

import orjson

from gateway.errors import GatewayError, upstream_bad_response
from gateway.intake import too_deep
from gateway.telemetry import recorder as outcomes
from gateway.telemetry.usage import StreamTap, Usage, ask_for_usage, usage_of_body, wants_usage
from gateway.translate import anthropic
from gateway.translate.anthropic_stream import DONE, MAX_EVENT_BYTES, StreamTranslator
from gateway.upstream.exchange import ProtocolError


class Tap(Protocol):
    """What relaying a stream needs: bytes to pass on as they come, and what was seen."""

    usage: Usage | None
    skipped_events: int  # events relayed without the usage scan (too large)
    event_limit: int
    failure: str | None  # outcome class of a stream the tap found broken

    def feed(self, chunk: bytes) -> bytes: ...

    def rest(self) -> bytes: ...


class OpenAIDialect:
    """OpenAI's wire format, as every OpenAI-compatible server speaks it: pass-through."""

    kind = "openai"
    has_embeddings = True

    def encode(self, payload: dict[str, Any]) -> bytes:
        try:
            return orjson.dumps(payload)
        except orjson.JSONEncodeError:  # loaded JSON always encodes, but for orjson's depth
            raise too_deep() from None

    def tap(self, payload: dict[str, Any]) -> Tap:
        return StreamTap(hide_usage=not ask_for_usage(payload))

    def answer(self, status: int, body: bytes) -> tuple[int, bytes, Usage | None]:
        """(status, body for the caller, usage) of a buffered upstream answer."""
        return status, body, usage_of_body(body) if status == 200 else None


_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class AzureDialect(OpenAIDialect):
    """Azure OpenAI: OpenAI's bodies, but errors like `{"error": {"code", "message"}}`."""

    kind = "azure_openai"

    def answer(self, status: int, body: bytes) -> tuple[int, bytes, Usage | None]:
        if status < 400:
            return super().answer(status, body)
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            decoded = None
        error = decoded.get("error") if isinstance(decoded, dict) else None
        if not isinstance(error, dict):
            error = {"message": body[:500].decode("utf-8", "replace") or f"HTTP {status}"}
        fallback = "server_error" if status >= 500 else "invalid_request_error"
        shaped = {
            "message": str(error.get("message") or f"HTTP {status}"),
            "type": error.get("type") or _ERROR_TYPES.get(status, fallback),
            "param": error.get("param"),
            "code": error.get("code"),
        }
        return status, orjson.dumps({"error": shaped}), None


class AnthropicTap:
    """A Messages event stream relayed as OpenAI chat.completion.chunk events."""

    __slots__ = ("_translator", "failure", "skipped_events", "usage")
    event_limit = MAX_EVENT_BYTES

    def __init__(self, include_usage: bool) -> None:
        self._translator = StreamTranslator(int(time.time()), include_usage)
        self.usage: Usage | None = None
        self.skipped_events = 0
        self.failure: str | None = None

    def feed(self, chunk: bytes) -> bytes:
        translator = self._translator
        try:
            events = translator.feed(chunk)
        except GatewayError as error:  # an event over the limit: the stream cannot go on
            raise ProtocolError(error.message) from None
        if translator.done:
            self._finish()
        return b"".join(events)

    def rest(self) -> bytes:
        if self._translator.done:
            return b""
        self.failure = outcomes.UPSTREAM_5XX  # the upstream ended without message_stop
        error = upstream_bad_response("the Anthropic stream ended before message_stop")
        return b"data: " + error.body() + b"\n\n" + DONE

    def _finish(self) -> None:
        translator = self._translator
        if translator.failed:
            self.failure = outcomes.UPSTREAM_5XX
        usage = translator.usage()
        if usage is not None:
            self.usage = (usage["prompt_tokens"], usage["completion_tokens"])


class AnthropicDialect(OpenAIDialect):
    """The Messages API, translated to and from OpenAI's chat shape."""

    kind = "anthropic"
    has_embeddings = False

    def encode(self, payload: dict[str, Any]) -> bytes:
        return super().encode(anthropic.to_messages_request(payload))

    def tap(self, payload: dict[str, Any]) -> Tap:
        return AnthropicTap(include_usage=wants_usage(payload))

    def answer(self, status: int, body: bytes) -> tuple[int, bytes, Usage | None]:
        if status >= 400:
            mapped, error = anthropic.to_openai_error(status, body)
            return mapped, orjson.dumps(error), None
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise upstream_bad_response("the Anthropic answer is not JSON") from None
        if not isinstance(message, dict):
            raise upstream_bad_response("the Anthropic answer is not a JSON object")
        completion = anthropic.to_chat_completion(message, int(time.time()))
        counts = completion["usage"]
        usage = (counts["prompt_tokens"], counts["completion_tokens"])
        return status, orjson.dumps(completion), usage


Dialect = OpenAIDialect
DIALECTS: dict[str, Dialect] = {
    "openai": OpenAIDialect(),
    "azure_openai": AzureDialect(),
    "anthropic": AnthropicDialect(),
}

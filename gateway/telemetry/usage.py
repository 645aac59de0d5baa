"""Token usage from upstream answers: a JSON body, or the usage event of an SSE stream. Pure.

`StreamTap` relays complete SSE events as they arrive, reads the usage event, and hides it from
callers who did not ask for usage (the gateway asks for it on their behalf).
"""

from collections.abc import Callable
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


# One SSE event larger than this is relayed without being scanned for usage (the scan holds an
# event until it is complete; usage events are a few hundred bytes).
SCANNED_EVENT_LIMIT = 1024 * 1024


def _last_boundary(data: bytes) -> int:
    """End of the last event boundary (a blank line) in `data`, or 0 when there is none."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def _first_boundary(data: bytes) -> int:
    """End of the first event boundary in `data`, or 0 when there is none."""
    lf, crlf = data.find(b"\n\n"), data.find(b"\r\n\r\n")
    ends = [e for e in (lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0) if e]
    return min(ends) if ends else 0


class StreamTap:
    """Work is linear in the bytes relayed: a partial event is held as a list of chunks and
    joined once, when its end arrives; an event past `event_limit` is passed through as it comes
    (counted in `skipped_events`) and the scan resumes after it."""

    __slots__ = (
        "_hide_usage",
        "_passing",
        "_pending",
        "_pending_bytes",
        "_seam",
        "event_limit",
        "skipped_events",
        "usage",
    )

    failure: str | None = None  # pass-through never judges a stream broken (translating taps do)

    def __init__(self, hide_usage: bool, event_limit: int = SCANNED_EVENT_LIMIT) -> None:
        self._hide_usage = hide_usage
        self._pending: list[bytes] = []  # chunks of the event not complete yet
        self._pending_bytes = 0
        self._seam = b""  # the last 3 bytes held or passed: a boundary may straddle two chunks
        self._passing = False  # inside an event too large to scan
        self.event_limit = event_limit
        self.skipped_events = 0
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to relay now: every complete event so far, the usage event hidden if asked."""
        if self._passing:
            return self._pass(chunk)
        pending = self._pending
        end = _last_boundary(chunk)
        if end == 0 and pending:
            end = self._straddling(chunk, _last_boundary)
        if end == 0:
            pending.append(chunk)
            self._pending_bytes += len(chunk)
            self._seam = chunk[-3:] if len(chunk) >= 3 else (self._seam + chunk)[-3:]
            if self._pending_bytes > self.event_limit:
                self.skipped_events += 1
                self._passing = True
                seam = self._seam  # the event's end may straddle this chunk and the next
                held = self._take_pending()
                self._seam = seam
                return held
            return b""
        if pending:
            pending.append(chunk[:end])
            complete = self._take_pending()
        else:
            complete = chunk[:end] if end < len(chunk) else chunk
        if end < len(chunk):
            self._pending.append(chunk[end:])
            self._pending_bytes = len(chunk) - end
            self._seam = chunk[max(end, len(chunk) - 3) :]
        usages = complete.count(b'"usage"')
        if not usages or usages == complete.count(b'"usage":null'):
            return complete  # the common event: nothing to read, nothing to drop (one scan each)
        lf, crlf = complete.rfind(b"\n\n"), complete.rfind(b"\r\n\r\n")
        separator = b"\r\n\r\n" if crlf > lf else b"\n\n"
        kept = [event for event in complete.split(separator) if self._keep(event)]
        return separator.join(kept)

    def rest(self) -> bytes:
        return self._take_pending()

    def _take_pending(self) -> bytes:
        pending = self._pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        self._pending_bytes = 0
        self._seam = b""
        return data

    def _straddling(self, chunk: bytes, find: Callable[[bytes], int]) -> int:
        """End (in `chunk`) of a boundary that begins in the bytes before it, or 0."""
        seam = self._seam
        end = find(seam + chunk[:3])
        return end - len(seam) if end > len(seam) else 0

    def _pass(self, chunk: bytes) -> bytes:
        """Inside an oversized event: relay as it comes until the event ends, then scan again."""
        ends = [e for e in (self._straddling(chunk, _first_boundary), _first_boundary(chunk)) if e]
        if not ends:
            self._seam = chunk[-3:] if len(chunk) >= 3 else (self._seam + chunk)[-3:]
            return chunk
        end = min(ends)
        self._passing = False
        self._seam = b""
        if end == len(chunk):
            return chunk
        return chunk[:end] + self.feed(chunk[end:])

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

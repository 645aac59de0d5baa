"""Reading usage from SSE streams, whatever the chunking."""

import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.telemetry.usage import (
    SCANNED_EVENT_LIMIT,
    StreamTap,
    ask_for_usage,
    usage_of_body,
)


def event(document):
    return b"data: " + orjson.dumps(document) + b"\n\n"


CONTENT = event({"choices": [{"delta": {"content": "hi"}}], "usage": None})
USAGE = event({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4}})
STREAM = CONTENT + CONTENT + USAGE + b"data: [DONE]\n\n"


@pytest.mark.parametrize("split", range(0, len(STREAM), 7))
@pytest.mark.parametrize("hide", [True, False])
def test_usage_is_read_and_hidden_at_any_split(split, hide):
    tap = StreamTap(hide_usage=hide)
    out = tap.feed(STREAM[:split]) + tap.feed(STREAM[split:]) + tap.rest()
    assert tap.usage == (11, 4)
    expected = STREAM.replace(USAGE, b"") if hide else STREAM
    assert out == expected


def test_complete_events_are_relayed_immediately():
    tap = StreamTap(hide_usage=True)
    assert tap.feed(CONTENT) == CONTENT
    assert tap.feed(CONTENT[:10]) == b""
    assert tap.feed(CONTENT[10:]) == CONTENT


@pytest.mark.parametrize("hide", [True, False])
def test_events_with_null_usage_pass_whole_and_the_last_usage_is_read(hide):
    """OpenAI sends `"usage":null` in every chunk when usage is asked for: passed as they are,
    and a real usage beside them is still read (and hidden when the caller did not ask)."""
    null = b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n'
    tap = StreamTap(hide_usage=hide)
    assert tap.feed(null * 3) == null * 3
    out = tap.feed(null + USAGE) + tap.rest()
    assert tap.usage == (11, 4)
    assert out == (null if hide else null + USAGE)


def test_crlf_events_are_not_held_back():
    tap = StreamTap(hide_usage=True)
    crlf = b'data: {"choices":[]}\r\n\r\n'
    assert tap.feed(crlf) == crlf


def test_ask_for_usage_keeps_other_stream_options():
    payload = {"stream_options": {"foo": 1}}
    assert ask_for_usage(payload) is False
    assert payload["stream_options"] == {"foo": 1, "include_usage": True}
    assert ask_for_usage({"stream_options": {"include_usage": True}}) is True


def test_usage_of_body():
    assert usage_of_body(b'{"usage": {"prompt_tokens": 3, "completion_tokens": 2}}') == (3, 2)
    assert usage_of_body(b'{"choices": []}') is None
    assert usage_of_body(b'{"usage": "broken"') is None


@pytest.mark.parametrize("split", range(0, 200, 9))
def test_crlf_stream_hides_only_the_usage_event(split):
    crlf = STREAM.replace(b"\n\n", b"\r\n\r\n")
    usage = USAGE.replace(b"\n\n", b"\r\n\r\n")
    tap = StreamTap(hide_usage=True)
    out = tap.feed(crlf[:split]) + tap.feed(crlf[split:]) + tap.rest()
    assert tap.usage == (11, 4)
    assert out == crlf.replace(usage, b"")
    assert out.endswith(b"data: [DONE]\r\n\r\n")


# --- linear work and the cap on one scanned event --------------------------------------------

separators = st.sampled_from([b"\n\n", b"\r\n\r\n"])


@st.composite
def streams(draw):
    """SSE streams of small and oversized events, with usage somewhere, cut at random points."""
    separator = draw(separators)
    sizes = draw(st.lists(st.integers(0, 300), min_size=1, max_size=6))
    events = [b"data: " + b"x" * size for size in sizes]
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}'
    at = draw(st.integers(0, len(events)))
    events.insert(at, usage)
    stream = b"".join(event + separator for event in events)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return stream, [p for p in pieces if p], usage + separator


@settings(max_examples=300, deadline=None)
@given(streams(), st.sampled_from([100, 200, SCANNED_EVENT_LIMIT]))
def test_any_chunking_and_cap_relays_every_byte_and_finds_usage(case, limit):
    stream, pieces, usage_event = case
    tap = StreamTap(hide_usage=False, event_limit=limit)
    out = b"".join(tap.feed(piece) for piece in pieces) + tap.rest()
    assert out == stream
    assert tap.usage == (5, 2)  # the usage event is small: never skipped
    hidden = StreamTap(hide_usage=True, event_limit=limit)
    out = b"".join(hidden.feed(piece) for piece in pieces) + hidden.rest()
    assert out == stream.replace(usage_event, b"")


def test_one_huge_event_is_relayed_in_linear_time_and_skipped_once():
    """50 MB in one event, 64 KiB chunks: the old tap re-copied its tail per chunk (~20 GB of
    copying); now each byte is touched a bounded number of times."""
    chunk = b"x" * 65536
    tap = StreamTap(hide_usage=True)
    started = time.perf_counter()
    relayed = len(tap.feed(b"data: "))
    for _ in range(50 * 1024 * 1024 // len(chunk)):
        relayed += len(tap.feed(chunk))
    relayed += len(tap.feed(b"\n\n" + USAGE + b"data: [DONE]\n\n"))
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert tap.skipped_events == 1
    assert tap.usage == (11, 4)  # the scan resumed after the huge event
    assert relayed == 6 + 50 * 1024 * 1024 + 2 + len(b"data: [DONE]\n\n")


def test_an_oversized_event_ending_across_two_chunks_resumes_the_scan():
    """Found by the fuzz above: the blank line ending a skipped event straddles two chunks."""
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
    tap = StreamTap(hide_usage=True, event_limit=100)
    out = tap.feed(b"data: " + b"x" * 200 + b"\n") + tap.feed(b"\n" + usage) + tap.rest()
    assert tap.usage == (5, 2) and tap.skipped_events == 1
    assert out == b"data: " + b"x" * 200 + b"\n\n"

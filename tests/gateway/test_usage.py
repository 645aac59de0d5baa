"""Reading usage from SSE streams, whatever the chunking."""

import orjson
import pytest

from gateway.telemetry.usage import StreamTap, ask_for_usage, usage_of_body


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

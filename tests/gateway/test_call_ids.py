"""Call ids name the process and minute whose record holds them."""

import time

from gateway.telemetry.calls import CallIds, parse_call_id


def test_ids_are_unique_and_parse_back():
    ids = CallIds()
    issued = [ids.new() for _ in range(1000)]
    assert len({call_id for call_id, _, _ in issued}) == 1000
    for call_id, minute, number in issued:
        parsed = parse_call_id(call_id)
        assert parsed is not None
        assert (parsed.process, parsed.minute, parsed.number) == (ids.process, minute, number)
    assert abs(issued[0][1] - int(time.time()) // 60) <= 1


def test_two_processes_never_share_ids():
    assert CallIds().process != CallIds().process


def test_malformed_ids_do_not_parse():
    for text in ("", "call-", "call-a-b", "call-a-1-zz", "other-a-1-2", "call-a--2"):
        assert parse_call_id(text) is None

"""The call ledger: two bytes per call in blocks, found again by minute and number, bounded."""

import pytest

from gateway.contract.telemetry import CALL_BLOCK, CallRecord
from gateway.telemetry.ledger import CallLedger, record_in


def test_calls_are_found_by_minute_and_number_across_blocks():
    ledger = CallLedger(limit_calls=10 * CALL_BLOCK)
    r1, r2 = ledger.code("bot", "r1"), ledger.code("bot", "r2")
    assert (r1, r2) == (1, 2) and ledger.code("bot", "r1") == 1
    for number in range(1, 3 * CALL_BLOCK):
        assert ledger.note(100 + number // 500, number, r1 if number % 3 else r2)
    assert ledger.find(100, 3) == CallRecord(route="bot", release="r2")
    assert ledger.find(100, 299) == CallRecord(route="bot", release="r1")
    assert ledger.find(101, 600) == CallRecord(route="bot", release="r2")
    assert ledger.find(100, 600) is None  # that number was served in the next minute
    assert ledger.find(100, 0) is None  # never issued
    assert ledger.find(99, 3) is None


def test_written_blocks_are_forgotten_except_the_one_still_filling():
    ledger = CallLedger(limit_calls=10 * CALL_BLOCK)
    code = ledger.code("bot", "r1")
    for number in range(1, CALL_BLOCK + 10):
        ledger.note(7, number, code)
    keys, newest = list(ledger.blocks), ledger.newest
    ledger.note(7, CALL_BLOCK + 10, code)  # a call noted while the write was in flight
    ledger.written(keys, newest)
    assert list(ledger.blocks) == [(7, 1)]
    assert ledger.find(7, CALL_BLOCK + 10) is not None
    ledger.note(7, 2 * CALL_BLOCK, code)  # a new block: the one before is complete now
    keys, newest = list(ledger.blocks), ledger.newest
    ledger.written(keys, newest)
    assert list(ledger.blocks) == [(7, 2)]


def test_a_full_ledger_refuses_calls_until_written():
    ledger = CallLedger(limit_calls=2 * CALL_BLOCK)
    code = ledger.code("bot", "r1")
    assert all(ledger.note(1, n, code) for n in range(2 * CALL_BLOCK))
    assert not ledger.note(1, 2 * CALL_BLOCK, code)
    ledger.written([(1, 0)], ledger.newest)
    assert ledger.note(1, 2 * CALL_BLOCK + 1, code)


@pytest.mark.parametrize("codes", [1, 300, 65_535])
def test_codes_use_both_bytes(codes):
    ledger = CallLedger(limit_calls=CALL_BLOCK)
    for index in range(codes):
        code = ledger.code("route", f"r{index}")
    ledger.note(1, 5, code)
    block = bytes(ledger.blocks[1, 0])
    assert record_in(block, 5, ledger.table) == CallRecord(route="route", release=f"r{codes - 1}")
    assert record_in(block[:4], 5, ledger.table) is None  # a short block: no such call

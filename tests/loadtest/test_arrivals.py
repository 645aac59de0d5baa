"""Burst statistics of request arrivals (`loadtest.arrivals`)."""

import pytest

from loadtest.arrivals import bursts


def test_bursts_are_runs_of_close_arrivals_seen_per_request():
    # a burst of 3 (5 µs apart), a lone arrival 1 ms later, then a burst of 2
    stamps = [0, 5_000, 10_000, 1_010_000, 2_010_000, 2_012_000]
    result = bursts(stamps)
    assert result.arrivals == 6
    assert result.close_share == pytest.approx(3 / 5)
    # per request: 3, 3, 3, 1, 2, 2 -> median (low) 2, p90 3
    assert (result.burst_p50, result.burst_p90) == (2, 3)
    assert result.rate == pytest.approx(6 / 0.002012)


def test_evenly_spaced_arrivals_are_bursts_of_one():
    result = bursts(list(range(0, 100 * 75_000, 75_000)))
    assert (result.burst_p50, result.burst_p90, result.close_share) == (1, 1, 0.0)


def test_bursts_needs_two_arrivals():
    with pytest.raises(ValueError, match="at least two"):
        bursts([1])

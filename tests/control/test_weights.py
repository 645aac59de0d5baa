"""Weight validation and conversion (percent <-> basis points), with hypothesis properties."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control.errors import BadInput
from control.routes.weights import bp_to_percent, format_percent, percent_to_bp


@st.composite
def basis_points(draw: st.DrawFn, total: int = 10_000) -> dict[str, int]:
    count = draw(st.integers(min_value=1, max_value=6))
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=count - 1, max_size=count - 1)))
    edges = [0, *cuts, total]
    return {f"r{i + 1}": edges[i + 1] - edges[i] for i in range(count)}


@given(basis_points())
def test_percent_written_as_json_numbers_converts_back_exactly(bp):
    as_percent = {r: bp_to_percent(v) for r, v in bp.items()}
    assert percent_to_bp(as_percent) == bp


@given(basis_points())
def test_percent_written_as_integers_or_decimals_alike(bp):
    mixed = {r: (v // 100 if v % 100 == 0 else v / 100) for r, v in bp.items()}
    assert percent_to_bp(mixed) == bp


@given(basis_points(), st.integers(min_value=1, max_value=1_666), st.booleans())
def test_a_sum_other_than_100_is_refused_naming_weights(bp, delta, above):
    largest = max(bp, key=lambda r: bp[r])  # at least 10000 / 6
    broken = {**bp, largest: bp[largest] - delta}
    if above:
        broken[f"r{len(bp) + 1}"] = 2 * delta
    with pytest.raises(BadInput) as caught:
        percent_to_bp({r: bp_to_percent(v) for r, v in broken.items()})
    assert caught.value.field == "weights"
    assert "sum to exactly 100" in caught.value.message


@given(st.decimals(min_value=0, max_value=100, places=3).filter(lambda d: d * 100 % 1 != 0))
def test_more_than_two_decimals_is_refused_naming_the_release(value):
    with pytest.raises(BadInput) as caught:
        percent_to_bp({"r2": float(value), "r1": 50})
    assert caught.value.field == "weights.r2"
    assert "two decimals" in caught.value.message


@given(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
def test_negative_is_refused(value):
    with pytest.raises(BadInput) as caught:
        percent_to_bp({"r1": 100, "r2": value})
    assert caught.value.field == "weights.r2"


@pytest.mark.parametrize("value", ["5", None, True, [5], {"v": 5}, float("nan"), float("inf")])
def test_non_numeric_is_refused(value):
    with pytest.raises(BadInput) as caught:
        percent_to_bp({"r1": 95, "r2": value})
    assert caught.value.field == "weights.r2"
    assert "must be a number" in caught.value.message


def test_empty_weights_do_not_sum_to_100():
    with pytest.raises(BadInput, match="sum to exactly 100, got 0"):
        percent_to_bp({})


@given(st.integers(min_value=0, max_value=10_000))
def test_formatting_is_the_exact_decimal(bp):
    assert Decimal(format_percent(bp)) * 100 == bp
    assert bp_to_percent(bp) == float(format_percent(bp))

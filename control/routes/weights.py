"""Weights as operators write them (percent, up to two decimals) and as the contract stores them
(integer basis points summing to 10,000). Exact decimal arithmetic, never float rounding. Pure.
"""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from control.errors import BROKEN_RULE, BadInput
from gateway.contract.bucketing import BUCKETS

_HUNDRED = Decimal(100)


def _exact(value: object) -> Decimal | None:
    """The decimal the caller wrote: ints exactly, floats by their shortest round-trip repr."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def percent_to_bp(weights: Mapping[str, object]) -> dict[str, int]:
    """Validate percent weights and convert them; raises BadInput naming the field and rule."""
    converted: dict[str, int] = {}
    for release, value in weights.items():
        field = f"weights.{release}"
        number = _exact(value)
        if number is None:
            raise BadInput(f"{field}: must be a number (percent), got {value!r}", field=field)
        if number < 0:
            raise BadInput(f"{field}: must not be negative, got {value!r}", field=field)
        scaled = number * _HUNDRED
        if scaled != scaled.to_integral_value():
            raise BadInput(
                f"{field}: at most two decimals, got {value!r}", field=field, code=BROKEN_RULE
            )
        if scaled > BUCKETS:
            raise BadInput(f"{field}: must be at most 100, got {value!r}", field=field)
        converted[release] = int(scaled)
    total = sum(converted.values())
    if total != BUCKETS:
        raise BadInput(
            f"weights: must sum to exactly 100, got {format_percent(total)}",
            field="weights",
            code=BROKEN_RULE,
        )
    return converted


def bp_to_percent(bp: int) -> float:
    """Exact for every basis-point value: the nearest float of a two-decimal number."""
    return float(Decimal(bp) / _HUNDRED)


def format_percent(bp: int) -> str:
    """Basis points as the shortest percent text: 9500 -> '95', 3333 -> '33.33', 50 -> '0.5'."""
    text = f"{Decimal(bp) / _HUNDRED:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text

"""Printing for the operator CLI: aligned tables, JSON for machines, weights as percent. Pure
formatting besides the final print."""

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from gateway.contract.bucketing import release_number


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: object) -> str:
    if value is None or value == "" or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def percent(value: float) -> str:
    return f"{value:g}"


def weights(values: Mapping[str, float], *, skip_zero: bool = False) -> str:
    ordered = sorted(values, key=lambda r: (release_number(r), r))
    shown = [f"{r}={percent(values[r])}" for r in ordered if values[r] or not skip_zero]
    return " ".join(shown) or "-"


def pairs(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def emit(text: str) -> None:
    print(text, file=sys.stdout)


def emit_json(value: Any) -> None:
    print(msgspec.json.format(msgspec.json.encode(value), indent=2).decode(), file=sys.stdout)

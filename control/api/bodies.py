"""Decoding admin request bodies into their Structs, the way the OpenAPI document describes them.

JSON Schema counts `5.0` as an integer; msgspec's strict decoder does not. A body whose only
fault is an integral float where an integer is declared is accepted as that integer (and only
there: a float elsewhere, such as a param, keeps its exact text). Pure; no I/O.
"""

import re
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")

# msgspec names a dict's value `[...]` (not its key): every value of that dict is then tried.
_AT = re.compile(
    r"Expected `[^`]*int[^`]*`, got `float` - at `\$((?:\.[^.\[`]+|\[\d+\]|\[\.\.\.\])*)`$"
)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[(\.\.\.)\]")
_MAX_FIXES = 16  # integer fields per body; a bound, so a hostile body cannot loop us long


class BodyDecoder(Generic[T]):
    def __init__(self, body_type: type[T]) -> None:
        self._type = body_type
        self._decoder = msgspec.json.Decoder(body_type)

    def decode(self, raw: bytes) -> T:
        try:
            return self._decoder.decode(raw)
        except msgspec.ValidationError as error:
            first = error
        value = msgspec.json.decode(raw)
        for _ in range(_MAX_FIXES):
            match = _AT.search(str(first))
            if match is None or not _integral_to_int(value, match.group(1)):
                raise first
            try:
                return msgspec.convert(value, self._type)
            except msgspec.ValidationError as error:
                first = error
        raise first


def _integral_to_int(value: Any, path: str) -> bool:
    """Replace the integral floats at `path` (`.a.b[0]`, `.a[...].b` for every value of a dict)
    by ints; False when there is none."""
    steps: list[str | int | None] = [
        name if name else (None if every else int(index))
        for name, index, every in _STEP.findall(path)
    ]
    if not steps:
        return False
    parents = [value]
    for step in steps[:-1]:
        parents = [child for parent in parents for child in _children(parent, step)]
    changed = False
    last = steps[-1]
    for parent in parents:
        for key in _keys(parent, last):
            leaf = parent[key]
            if isinstance(leaf, float) and leaf.is_integer() and abs(leaf) < 2**53:
                parent[key] = int(leaf)
                changed = True
    return changed


def _keys(parent: Any, step: str | int | None) -> list[Any]:
    if step is None:
        return list(parent) if isinstance(parent, dict) else []
    if isinstance(parent, dict) and isinstance(step, str) and step in parent:
        return [step]
    if isinstance(parent, list) and isinstance(step, int) and 0 <= step < len(parent):
        return [step]
    return []


def _children(parent: Any, step: str | int | None) -> list[Any]:
    return [parent[key] for key in _keys(parent, step)]

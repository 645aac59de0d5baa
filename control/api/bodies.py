"""Decoding admin request bodies into their Structs, the way the OpenAPI document describes them.

JSON Schema counts `5.0` as an integer; msgspec's strict decoder does not. A body whose only
fault is an integral float where an integer is declared is accepted as that integer (and only
there: a float elsewhere, such as a param, keeps its exact text). Pure; no I/O.
"""

import re
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")

_AT = re.compile(r"Expected `[^`]*int[^`]*`, got `float` - at `\$((?:\.[^.\[`]+|\[\d+\])*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
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
    """Replace the integral float at `path` (`.a.b[0]`) by an int; False when it is not one."""
    steps: list[str | int] = [name if name else int(index) for name, index in _STEP.findall(path)]
    if not steps:
        return False
    parent = value
    try:
        for step in steps[:-1]:
            parent = parent[step]
        leaf = parent[steps[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    if isinstance(leaf, float) and leaf.is_integer() and abs(leaf) < 2**53:
        parent[steps[-1]] = int(leaf)
        return True
    return False

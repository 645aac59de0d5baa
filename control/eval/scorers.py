"""Deterministic scorers: an answer and a case's expected value in, a score in [0, 1] out. Pure.

The LLM judge is in `control.eval.judge` (it calls a route); everything here is local.
"""

import math
import re
from typing import Any

import jsonschema
import msgspec

from control.eval.dataset import ScorerSpec

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _json(answer: str) -> tuple[bool, Any]:
    try:
        return True, msgspec.json.decode(answer.strip().encode())
    except msgspec.DecodeError:
        return False, None


def _numeric(spec: ScorerSpec, expected: Any, answer: str) -> float:
    match = _NUMBER.search(answer.replace(",", ""))
    if match is None:
        return 0.0
    value = float(match.group())
    allowed = max(spec.tolerance, spec.relative * abs(float(expected)))
    return 1.0 if math.isfinite(value) and abs(value - float(expected)) <= allowed else 0.0


def score(spec: ScorerSpec, expected: Any, answer: str) -> float:
    """1.0 pass, 0.0 fail. The judge is not scored here (see `control.eval.judge`)."""
    if spec.name in ("exact", "contains"):
        want, got = _text(expected).strip(), answer.strip()
        if spec.ignore_case:
            want, got = want.casefold(), got.casefold()
        hit = want == got if spec.name == "exact" else want in got
        return 1.0 if hit else 0.0
    if spec.name == "regex":
        pattern = spec.pattern if spec.pattern is not None else str(expected)
        flags = re.IGNORECASE if spec.ignore_case else 0
        return 1.0 if re.search(pattern, answer, flags) else 0.0
    if spec.name == "json_valid":
        return 1.0 if _json(answer)[0] else 0.0
    if spec.name == "json_schema":
        valid, value = _json(answer)
        if not valid or spec.schema is None:
            return 0.0
        validator = jsonschema.validators.validator_for(spec.schema)(spec.schema)
        return 1.0 if validator.is_valid(value) else 0.0
    if spec.name == "numeric":
        return _numeric(spec, expected, answer)
    raise ValueError(f"scorer {spec.name!r} is not a local scorer")

"""Eval datasets: JSONL cases, validated line by line, and their content hash.

One JSON object a line: `id`, `messages` and/or `prompt_variables`, `expected`, `scorers` (names or
objects with options), optional `cluster`, `must_pass`, `tags`. An error names the file, the line
and the field. No network I/O here.
"""

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
import msgspec

ScorerName = Literal["exact", "contains", "regex", "json_valid", "json_schema", "numeric", "judge"]
# What kind of score each scorer gives: pass/fail, or an ordinal rating (the judge's 1..scale).
SCORER_KIND: dict[str, str] = {
    "exact": "binary",
    "contains": "binary",
    "regex": "binary",
    "json_valid": "binary",
    "json_schema": "binary",
    "numeric": "binary",
    "judge": "ordinal",
}
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ScorerSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: ScorerName
    metric: Text | None = None  # the metric's name in the verdict; default: the scorer's name
    blocking: bool = True  # False: reported, never blocks the gate
    ignore_case: bool = False  # exact, contains, regex
    pattern: str | None = None  # regex; default: `expected`
    schema: dict[str, Any] | None = None  # json_schema
    tolerance: Annotated[float, msgspec.Meta(ge=0)] = 1e-9  # numeric: absolute
    relative: Annotated[float, msgspec.Meta(ge=0)] = 0.0  # numeric: relative to |expected|
    rubric: str | None = None  # judge: what a good answer is
    scale: Annotated[int, msgspec.Meta(ge=2, le=10)] = 5  # judge: ratings 1..scale

    @property
    def metric_name(self) -> str:
        return self.metric or self.name


class Case(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Text
    scorers: Annotated[list[ScorerName | ScorerSpec], msgspec.Meta(min_length=1)]
    messages: list[dict[str, Any]] | None = None
    prompt_variables: dict[str, str] | None = None
    expected: Any = None
    cluster: Text | None = None
    must_pass: bool = False
    tags: list[Text] = []

    def specs(self) -> list[ScorerSpec]:
        return [ScorerSpec(s) if isinstance(s, str) else s for s in self.scorers]


class Dataset(msgspec.Struct, frozen=True):
    path: str
    cases: list[Case]
    content_hash: str  # sha256 of the decoded cases: whitespace and key order do not count

    def metrics(self) -> dict[str, ScorerSpec]:
        """Metric name -> the first scorer spec naming it (kind and blocking come from it)."""
        found: dict[str, ScorerSpec] = {}
        for case in self.cases:
            for spec in case.specs():
                found.setdefault(spec.metric_name, spec)
        return found


class DatasetError(ValueError):
    pass


_decoder = msgspec.json.Decoder(Case)


def _check(case: Case) -> str | None:
    """The first rule the case breaks, as `field: problem`, or None."""
    if case.messages is None and case.prompt_variables is None:
        return "$.messages: a case needs messages or prompt_variables"
    for index, spec in enumerate(case.specs()):
        where = f"$.scorers[{index}]"
        if spec.name in ("exact", "contains") and not isinstance(case.expected, str | int | float):
            return f"$.expected: scorer {spec.name!r} needs a string or number"
        if spec.name == "numeric" and (
            not isinstance(case.expected, int | float) or isinstance(case.expected, bool)
        ):
            return "$.expected: scorer 'numeric' needs a number"
        if spec.name == "regex":
            pattern = spec.pattern if spec.pattern is not None else case.expected
            if not isinstance(pattern, str):
                return f"{where}.pattern: scorer 'regex' needs a pattern (or a string expected)"
            try:
                re.compile(pattern)
            except re.error as error:
                return f"{where}.pattern: not a regular expression ({error})"
        if spec.name == "json_schema":
            if spec.schema is None:
                return f"{where}.schema: scorer 'json_schema' needs a schema"
            try:
                jsonschema.validators.validator_for(spec.schema).check_schema(spec.schema)
            except jsonschema.SchemaError as error:
                return f"{where}.schema: not a valid JSON Schema ({error.message})"
    return None


def parse_lines(lines: Iterable[bytes], path: str) -> Dataset:
    cases: list[Case] = []
    seen: dict[str, int] = {}
    kinds: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            case = _decoder.decode(raw)
        except msgspec.ValidationError as error:
            raise DatasetError(f"{path} line {number}: {error}") from None
        except msgspec.DecodeError as error:
            raise DatasetError(f"{path} line {number}: not a JSON object ({error})") from None
        problem = _check(case)
        if problem is not None:
            raise DatasetError(f"{path} line {number}: {problem}")
        if case.id in seen:
            raise DatasetError(
                f"{path} line {number}: $.id: {case.id!r} already used on line {seen[case.id]}"
            )
        seen[case.id] = number
        for spec in case.specs():
            kind = SCORER_KIND[spec.name]
            first = kinds.setdefault(spec.metric_name, (kind, number))
            if first[0] != kind:
                raise DatasetError(
                    f"{path} line {number}: $.scorers: metric {spec.metric_name!r} is {kind} "
                    f"here but {first[0]} on line {first[1]}"
                )
        cases.append(case)
    if not cases:
        raise DatasetError(f"{path}: no cases")
    digest = hashlib.sha256(msgspec.json.encode(cases)).hexdigest()
    return Dataset(path, cases, f"sha256:{digest}")


def load(path: Path) -> Dataset:
    try:
        with path.open("rb") as handle:
            return parse_lines(handle, str(path))
    except OSError as error:
        raise DatasetError(f"{path}: cannot read ({error.strerror or error})") from None

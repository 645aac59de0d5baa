"""Eval datasets and scorers: validation errors name line and field; scorers score."""

from pathlib import Path

import pytest

from control.eval.dataset import DatasetError, ScorerSpec, load, parse_lines
from control.eval.judge import JudgeError, judge_messages, parse_rating
from control.eval.scorers import score
from simulator.quality import Quality, answer, is_right, rate

GOOD = [
    b'{"id": "a", "messages": [{"role": "user", "content": "2+2?"}], "expected": 4, '
    b'"scorers": ["numeric", "judge"], "cluster": "math", "must_pass": true, "tags": ["x"]}',
    b'{"id": "b", "prompt_variables": {"q": "capital of France"}, "expected": "Paris", '
    b'"scorers": ["contains", {"name": "regex", "pattern": "^P"}]}',
]


def test_a_good_dataset_loads_with_a_content_hash(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"\n".join(GOOD) + b"\n\n")
    dataset = load(path)
    assert [c.id for c in dataset.cases] == ["a", "b"]
    assert dataset.content_hash.startswith("sha256:")
    assert set(dataset.metrics()) == {"numeric", "judge", "contains", "regex"}
    # whitespace does not change the hash; content does
    spaced = parse_lines([GOOD[0].replace(b", ", b",   "), GOOD[1]], "x")
    assert spaced.content_hash == dataset.content_hash
    changed = parse_lines([GOOD[0].replace(b'"expected": 4', b'"expected": 5'), GOOD[1]], "x")
    assert changed.content_hash != dataset.content_hash


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "line 2: not a JSON object"),
        (b'{"id": "c", "expected": "x", "scorers": ["exact"]}', "line 2: $.messages"),
        (b'{"id": "c", "messages": [], "scorers": ["nope"]}', "line 2: Invalid enum value 'nope'"),
        (b'{"id": "c", "messages": [], "scorers": []}', "line 2: Expected `array` of length >= 1"),
        (b'{"id": "a", "messages": [], "expected": "x", "scorers": ["exact"]}', "line 2: $.id"),
        (b'{"id": "c", "messages": [], "scorers": ["numeric"], "expected": "x"}', "$.expected"),
        (
            b'{"id": "c", "messages": [], "scorers": [{"name": "regex", "pattern": "("}]}',
            "line 2: $.scorers[0].pattern: not a regular expression",
        ),
        (
            b'{"id": "c", "messages": [], "scorers": [{"name": "json_schema"}]}',
            "$.scorers[0].schema: scorer 'json_schema' needs a schema",
        ),
        (
            b'{"id": "c", "messages": [], "scorers": [{"name": "json_schema", '
            b'"schema": {"type": 5}}]}',
            "$.scorers[0].schema: not a valid JSON Schema",
        ),
        (b'{"id": "c", "messages": [], "scorers": ["json_valid"], "extra": 1}', "extra"),
        (
            b'{"id": "c", "messages": [], "expected": "x", "scorers": '
            b'[{"name": "judge", "metric": "numeric"}]}',
            "metric 'numeric' is ordinal here but binary on line 1",
        ),
    ],
)
def test_bad_lines_are_named(line: bytes, message: str) -> None:
    with pytest.raises(DatasetError) as caught:
        parse_lines([GOOD[0], line], "cases.jsonl")
    assert "cases.jsonl line 2" in str(caught.value) or "line 2" in str(caught.value)
    assert message in str(caught.value)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        load(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_bytes(b"\n")
    with pytest.raises(DatasetError, match="no cases"):
        load(tmp_path / "empty.jsonl")


def test_scorers() -> None:
    assert score(ScorerSpec("exact"), "Paris", " Paris\n") == 1.0
    assert score(ScorerSpec("exact"), "Paris", "paris") == 0.0
    assert score(ScorerSpec("exact", ignore_case=True), "Paris", "paris") == 1.0
    assert score(ScorerSpec("contains"), "Paris", "It is Paris.") == 1.0
    assert score(ScorerSpec("regex", pattern=r"\bP\w+s\b"), None, "in Paris") == 1.0
    assert score(ScorerSpec("regex"), r"^\d+$", "12a") == 0.0
    assert score(ScorerSpec("json_valid"), None, '{"a": 1}') == 1.0
    assert score(ScorerSpec("json_valid"), None, "{a: 1}") == 0.0
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
    assert score(ScorerSpec("json_schema", schema=schema), None, '{"a": 1}') == 1.0
    assert score(ScorerSpec("json_schema", schema=schema), None, '{"a": "1"}') == 0.0
    assert score(ScorerSpec("json_schema", schema=schema), None, "nope") == 0.0
    assert score(ScorerSpec("numeric"), 4, "The answer is 4.") == 1.0
    assert score(ScorerSpec("numeric"), 1000, "1,000") == 1.0
    assert score(ScorerSpec("numeric", tolerance=0.1), 3.14, "3.2") == 1.0
    assert score(ScorerSpec("numeric", tolerance=0.01), 3.14, "3.2") == 0.0
    assert score(ScorerSpec("numeric", relative=0.05), 100, "104") == 1.0
    assert score(ScorerSpec("numeric"), 4, "four") == 0.0
    with pytest.raises(ValueError, match="not a local scorer"):
        score(ScorerSpec("judge"), "x", "y")


def test_judge_ratings_parse_or_fail_clearly() -> None:
    assert parse_rating("Reasoning...\nScore: 5", 5) == 1.0
    assert parse_rating("score = 3", 5) == 0.5
    assert parse_rating("Score: 1", 5) == 0.0
    with pytest.raises(JudgeError, match="no 'Score: N'"):
        parse_rating("looks good to me", 5)
    with pytest.raises(JudgeError, match=r"outside 1\.\.5"):
        parse_rating("Score: 9", 5)


def test_the_simulated_judge_rates_the_judge_prompt() -> None:
    case = parse_lines([GOOD[1]], "x").cases[0]
    spec = ScorerSpec("judge")
    judge = Quality(model="j", judge=True)
    assert rate(judge, judge_messages(case, spec, "Paris")) == "Score: 5"
    low = rate(judge, judge_messages(case, spec, "Lyon"))
    assert low in ("Score: 1", "Score: 2")
    garbage = Quality(model="j", judge=True, judge_garbage=1.0)
    with pytest.raises(JudgeError):
        parse_rating(rate(garbage, judge_messages(case, spec, "Paris")), 5)


def test_simulated_accuracy_and_consistency() -> None:
    cases = [f"case-{i}" for i in range(4000)]
    good = Quality(model="good", accuracy=0.8, consistency=0.9)
    twin = Quality(model="twin", accuracy=0.8, consistency=0.9)
    worse = Quality(model="worse", accuracy=0.7, consistency=0.9)
    right = {q.model: [is_right(q, c, 0) for c in cases] for q in (good, twin, worse)}
    assert abs(sum(right["good"]) / 4000 - 0.8) < 0.025
    assert abs(sum(right["worse"]) / 4000 - 0.7) < 0.025
    disagree = sum(a != b for a, b in zip(right["good"], right["twin"], strict=True)) / 4000
    assert disagree < 0.1  # independent answers would disagree 32% of the time
    assert answer(good, 4, "case-0", 0) == answer(good, 4, "case-0", 0)  # deterministic
    assert {answer(good, "Paris", c, 0) for c in cases[:50]} == {"Paris", "I am not sure."}


def test_the_cache_survives_a_torn_last_line(tmp_path: Path) -> None:
    from control.eval.cache import ResultCache, answer_key
    from control.eval.calls import Answer

    case = parse_lines([GOOD[1]], "x").cases[0]
    answer = Answer("Paris", 3, 1, "r1", "-", "m@1", "qa")
    cache = ResultCache(tmp_path / "c.jsonl")
    cache.put(answer_key("qa", case, "r1", 0), answer)
    cache.close()
    with (tmp_path / "c.jsonl").open("ab") as handle:
        handle.write(b'{"key": "answer|qa|tor')  # killed mid-write
    again = ResultCache(tmp_path / "c.jsonl")
    assert again.get(answer_key("qa", case, "r1", 0)) == answer
    again.put(answer_key("qa", case, "r2", 0), answer)
    again.close()
    third = ResultCache(tmp_path / "c.jsonl")
    assert third.get(answer_key("qa", case, "r2", 0)) == answer
    assert third.get(answer_key("other", case, "r1", 0)) is None  # the route is in the key

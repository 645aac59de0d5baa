"""Simulated answer quality: which answers a model gets right, and a judge model that rates them.

A call tagged `X-Eval-Case: <case id>#<sample>` (percent-encoded) to a model with a `Quality`
gets the case's expected answer (from the answer key) with probability `accuracy`, else a wrong
one, decided by a hash of (case, model, sample): the same call always gets the same answer.
`consistency` is the chance that a model's right/wrong on a case follows the case's own
difficulty, shared by every model, so two models of equal accuracy mostly agree (as real ones
do) and paired differences stay small. A `judge` model reads the `<reference>` and `<answer>`
of the judge prompt and replies `Score: N`. Pure; the server holds the configuration.
"""

import hashlib
import re
import urllib.parse
from typing import Annotated, Any

import msgspec

CASE_HEADER = "x-eval-case"
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
_TAGS = re.compile(r"<(reference|answer)>(.*?)</\1>", re.DOTALL)
_SCALE = re.compile(r"to (\d+) \(right\)")


class Quality(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    model: str
    accuracy: Share = 0.8  # chance of answering a case's expected value
    consistency: Share = 0.9  # chance right/wrong follows the case's shared difficulty
    judge: bool = False  # this model rates answers instead of answering cases
    judge_noise: Share = 0.0  # chance a rating is one step off
    judge_garbage: Share = 0.0  # chance a rating reply holds no score at all


class AnswerKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of POST /_sim/answer_key: case id -> expected value (merged into the key held)."""

    answers: dict[str, Any]


def uniform(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def is_right(quality: Quality, case: str, sample: int) -> bool:
    if uniform("mix", case, quality.model, sample) < quality.consistency:
        draw = uniform("difficulty", case)
    else:
        draw = uniform("own", case, quality.model, sample)
    return draw < quality.accuracy


def answer(quality: Quality, expected: Any, case: str, sample: int) -> str:
    if is_right(quality, case, sample):
        return _text(expected)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return _text(expected + 1 + int(uniform("wrong", case, quality.model) * 9))
    return "I am not sure."


def rate(quality: Quality, messages: list[Any]) -> str:
    """The judge's reply to a judge prompt (see `control.eval.judge`)."""
    user = next(
        (
            m.get("content")
            for m in reversed(messages)
            if isinstance(m, dict) and m.get("role") == "user"
        ),
        "",
    )
    system = next(
        (m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "system"),
        "",
    )
    text = user if isinstance(user, str) else ""
    scale_match = _SCALE.search(system if isinstance(system, str) else "")
    scale = int(scale_match.group(1)) if scale_match else 5
    if uniform("garbage", text) < quality.judge_garbage:
        return "The answer is fine, I suppose."
    parts = dict(_TAGS.findall(text))
    reference = parts.get("reference", "").strip().casefold()
    given = parts.get("answer", "").strip().casefold()
    rating = scale if reference and reference in given else 1 + int(uniform("low", text) * 2)
    if uniform("noise", text) < quality.judge_noise:
        rating += 1 if rating < scale else -1
    return f"Score: {min(max(rating, 1), scale)}"


def reply(
    qualities: dict[str, Quality], key: dict[str, Any], body: dict[str, Any], tag: str | None
) -> str | None:
    """The answer text for this call, or None to answer as usual (echo)."""
    quality = qualities.get(str(body.get("model", "")))
    if quality is None:
        return None
    if quality.judge:
        messages = body.get("messages")
        return rate(quality, messages if isinstance(messages, list) else [])
    if tag is None:
        return None
    case, _, sample = urllib.parse.unquote(tag).rpartition("#")
    if case not in key:
        return None
    return answer(quality, key[case], case, int(sample) if sample.isdigit() else 0)

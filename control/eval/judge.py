"""The LLM judge: the prompt it is sent, and parsing its rating. Pure (the runner does the call).

The judge sees the case's question, the reference answer and the answer under test, and must
reply with a line `Score: N`, N in 1..scale. The rating is mapped to [0, 1] as (N - 1)/(scale - 1).
"""

import re
from typing import Any

import msgspec

from control.eval.dataset import Case, ScorerSpec

DEFAULT_RUBRIC = (
    "Rate how well the answer matches the reference in meaning and correctness; "
    "ignore style and length."
)
_SCORE = re.compile(r"score\s*[:=]\s*(-?\d+)", re.IGNORECASE)


class JudgeError(ValueError):
    """The judge's reply holds no usable rating."""


class JudgeProvenance(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What judged: from the gateway's X-Turnout-* headers on the judge's reply."""

    route: str
    release: str
    prompt: str
    model: str


def question_of(case: Case) -> str:
    if case.messages:
        users = [m.get("content") for m in case.messages if m.get("role") == "user"]
        texts = [u for u in users if isinstance(u, str)]
        if texts:
            return texts[-1]
    return msgspec.json.encode(case.prompt_variables or {}).decode()


def judge_messages(case: Case, spec: ScorerSpec, answer: str) -> list[dict[str, Any]]:
    reference = (
        case.expected
        if isinstance(case.expected, str)
        else msgspec.json.encode(case.expected).decode()
    )
    system = (
        "You grade an assistant's answer against a reference answer. "
        f"{spec.rubric or DEFAULT_RUBRIC} "
        f"Reply with one line 'Score: N', N an integer from 1 (wrong) to {spec.scale} (right)."
    )
    user = (
        f"<question>{question_of(case)}</question>\n"
        f"<reference>{reference}</reference>\n"
        f"<answer>{answer}</answer>"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_rating(reply: str, scale: int) -> float:
    """The rating on [0, 1]; JudgeError naming the reply when there is none in 1..scale."""
    found = _SCORE.findall(reply)
    if not found:
        raise JudgeError(f"judge reply has no 'Score: N': {reply[:200]!r}")
    rating = int(found[-1])
    if not 1 <= rating <= scale:
        raise JudgeError(f"judge rating {rating} is outside 1..{scale}: {reply[:200]!r}")
    return (rating - 1) / (scale - 1)

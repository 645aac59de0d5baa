"""Token and cost estimates for an eval run before it starts. Pure.

A rough count (about four characters a token, the usual rule of thumb for English) of what each
call sends and gets back, priced with the model versions' prices per million tokens; the actual
cost afterwards comes from the providers' reported usage.
"""

import math
from typing import Any

import msgspec

from control.eval.dataset import Case
from gateway.contract.snapshot import ReleaseSpec
from gateway.contract.telemetry import cost_usd

CHARS_PER_TOKEN = 4
_MESSAGE_OVERHEAD_TOKENS = 4  # role and separators per message
_JUDGE_INSTRUCTIONS_TOKENS = 60  # the judge's system prompt and the tags around the texts
_JUDGE_REPLY_TOKENS = 4  # "Score: N"


def tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def input_tokens(case: Case, release: ReleaseSpec) -> int:
    total = 0
    prompt = release.prompt
    if prompt is not None:
        parts = ([prompt.system] if prompt.system else []) + [m.content for m in prompt.messages]
        total += sum(tokens(p) + _MESSAGE_OVERHEAD_TOKENS for p in parts)
        total += sum(tokens(v) for v in (case.prompt_variables or {}).values())
    for message in case.messages or []:
        total += tokens(_text(message.get("content", ""))) + _MESSAGE_OVERHEAD_TOKENS
    return total


def output_tokens(case: Case) -> int:
    """The expected answer's length stands in for the answer's (at least one token)."""
    return max(1, tokens(_text(case.expected)) if case.expected is not None else 16)


def answer_cost(case: Case, release: ReleaseSpec) -> float:
    model = release.model
    return cost_usd(
        input_tokens(case, release),
        output_tokens(case),
        model.input_usd_per_mtok,
        model.output_usd_per_mtok,
    )


def judge_cost(case: Case, judge: ReleaseSpec) -> float:
    sent = _JUDGE_INSTRUCTIONS_TOKENS + tokens(_text(case.messages or case.prompt_variables))
    sent += 2 * output_tokens(case)  # the reference and the answer
    model = judge.model
    return cost_usd(sent, _JUDGE_REPLY_TOKENS, model.input_usd_per_mtok, model.output_usd_per_mtok)

"""The gate record stored on a candidate release, and its Markdown report. Pure.

A record says what was compared (route, candidate, baseline), on what (dataset hash, samples),
judged by what (the judge's route, release, prompt and model), at what cost, and the verdict.
"""

from typing import Annotated

import msgspec

from control.durations import Time
from control.eval.judge import JudgeProvenance
from control.eval.verdict import MetricScores, Verdict

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class GateRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    route: Name
    candidate: Name  # the release the verdict is about
    baseline: Name  # the stable release it was measured against
    dataset: str  # the dataset's file name, informational
    dataset_hash: Annotated[str, msgspec.Meta(pattern=r"^sha256:[0-9a-f]{64}$")]
    cases: Annotated[int, msgspec.Meta(ge=1)]
    samples: Annotated[int, msgspec.Meta(ge=1)]
    judge: JudgeProvenance | None  # None when no case is judged by an LLM; else every rating's
    # reply came from this route, release, prompt and model (checked on each reply's headers)
    verdict: Verdict
    scores: list[MetricScores]  # the per-case scores the verdict was computed from
    calls: Annotated[int, msgspec.Meta(ge=0)]  # sent in the run that finished the record
    cached: Annotated[int, msgspec.Meta(ge=0)]  # answers and ratings reused from the cache
    cost_estimate_usd: Annotated[float, msgspec.Meta(ge=0)]
    cost_usd: Annotated[float, msgspec.Meta(ge=0)]  # of the calls sent (cache hits are free)
    finished_at: Time
    actor: str | None = None  # set by the admin API from the poster's token


def _f(value: float) -> str:
    return f"{value:+.4f}"


def markdown(record: GateRecord, stale: list[str] | None = None) -> str:
    verdict = record.verdict
    settings = verdict.settings
    lines = [
        f"# Eval gate: {record.route} {record.candidate} vs {record.baseline}",
        "",
        f"**{verdict.outcome.upper()}** — {verdict.reason}",
        "",
    ]
    if stale:
        lines += [f"**STALE** — {'; '.join(stale)}", ""]
    judge = record.judge
    lines += [
        f"- dataset: {record.dataset} ({record.dataset_hash[:19]}…), {record.cases} cases, "
        f"{record.samples} sample(s) each",
        f"- margin {settings.margin:g}, alpha {settings.alpha:g} (one-sided), power "
        f"{settings.power:g}, bootstrap B = {settings.resamples}, seed {settings.seed}",
        "- judge: "
        + (
            f"{judge.route} {judge.release} (prompt {judge.prompt}, model {judge.model})"
            if judge
            else "none"
        ),
        f"- calls sent {record.calls}, reused from cache {record.cached}; cost estimate "
        f"${record.cost_estimate_usd:.4f}, actual ${record.cost_usd:.4f}",
        f"- finished {record.finished_at.isoformat(timespec='seconds')}"
        + (f" by {record.actor}" if record.actor else ""),
        "",
        "| metric | kind | outcome | n | estimate | lower | margin | p (Holm) | needed "
        "| improved | regressed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in verdict.metrics:
        lines.append(
            f"| {m.name}{'' if m.blocking else ' (report only)'} | {m.kind} | {m.outcome} "
            f"| {m.n} | {_f(m.estimate)} | {_f(m.lower)} | -{m.margin:g} | {m.holm_p:.3g} "
            f"| {m.n_needed} | {m.improved:.1%} | {m.regressed:.1%} |"
        )
    lines.append("")
    for m in verdict.metrics:
        checks = ", ".join(f"{c.name} p {c.p_value:.3g}" for c in m.checks)
        extra = ""
        if m.hodges_lehmann is not None and m.hodges_lehmann_lower is not None:
            extra = (
                f"; Hodges-Lehmann pseudo-median {_f(m.hodges_lehmann)} "
                f"(lower bound {_f(m.hodges_lehmann_lower)})"
            )
        quantiles = ", ".join(f"{k} {_f(v)}" for k, v in m.quantiles.items())
        lines.append(f"- {m.name}: {m.reason}. Tests: {checks}; d quantiles {quantiles}{extra}")
    if verdict.must_pass_regressions:
        lines += ["", "Must-pass cases that regressed: " + ", ".join(verdict.must_pass_regressions)]
    for m in verdict.metrics:
        if m.worst_regressed:
            lines += ["", f"Worst regressed cases on {m.name}:", ""]
            lines += [
                f"- {c.case_id}: {c.baseline:.2f} → {c.candidate:.2f} ({_f(c.difference)})"
                for c in m.worst_regressed
            ]
    return "\n".join(lines) + "\n"

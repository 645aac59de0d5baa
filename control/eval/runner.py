"""Runs a dataset through the gateway for two releases and scores the answers.

Every (case, release, sample) is answered once: from the result cache, else by a pinned call.
Judged metrics then send the answer to the judge route, pinned to one judge release for the
whole run. A bounded pool of workers does the calls; the first call that fails for good (after
its retries) or an unparsable judgement stops the run with that error, leaving what finished in
the cache for the next run.
"""

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec

from control.eval.cache import ResultCache, answer_key, rating_key
from control.eval.calls import Answer, Caller
from control.eval.dataset import SCORER_KIND, Case, Dataset, ScorerSpec
from control.eval.judge import JudgeError, JudgeProvenance, judge_messages, parse_rating
from control.eval.scorers import score
from control.eval.verdict import MetricScores
from gateway.contract.snapshot import ReleaseSpec
from gateway.contract.telemetry import cost_usd

Progress = Callable[[int], None]


class Plan(msgspec.Struct, frozen=True):
    route: str
    releases: dict[str, ReleaseSpec]  # baseline and candidate, by id
    dataset: Dataset
    samples: int
    judge_route: str | None = None
    judge: ReleaseSpec | None = None  # the judge route's release every rating is pinned to


class RunResult(msgspec.Struct):
    answers: dict[tuple[str, str, int], Answer]
    ratings: dict[tuple[str, str, int, str], float]  # (case, release, sample, metric) -> [0, 1]
    judge: JudgeProvenance | None
    sent: int  # calls sent, retries included
    cached: int  # answers and ratings reused from the cache
    cost_usd: float  # of the calls that were answered (cache hits cost nothing now)


def _body(route: str, case: Case) -> dict[str, Any]:
    body: dict[str, Any] = {"model": route, "messages": case.messages or []}
    if case.prompt_variables is not None:
        body["prompt_variables"] = case.prompt_variables
    return body


def _price(answer: Answer, spec: ReleaseSpec) -> float:
    model = spec.model
    return cost_usd(
        answer.tokens_in, answer.tokens_out, model.input_usd_per_mtok, model.output_usd_per_mtok
    )


class _Run:
    def __init__(self, plan: Plan, caller: Caller, cache: ResultCache, progress: Progress) -> None:
        self.plan = plan
        self.caller = caller
        self.cache = cache
        self.progress = progress
        self.result = RunResult({}, {}, None, 0, 0, 0.0)

    async def _answer(self, case: Case, release: str, sample: int) -> Answer:
        key = answer_key(self.plan.route, case, release, sample)
        found = self.cache.get(key)
        if found is not None:
            self.result.cached += 1
            return found
        answer = await self.caller.chat(
            _body(self.plan.route, case), release, f"{case.id}#{sample}"
        )
        self.cache.put(key, answer)
        self.result.cost_usd += _price(answer, self.plan.releases[release])
        return answer

    async def _rate(
        self, case: Case, spec: ScorerSpec, release: str, sample: int, text: str
    ) -> float:
        plan = self.plan
        assert plan.judge is not None and plan.judge_route is not None  # checked by the CLI
        judge = f"{plan.judge_route}/{plan.judge.id}"
        key = rating_key(plan.route, case, release, sample, judge, spec.metric_name)
        reply = self.cache.get(key)
        if reply is None:
            body = {"model": plan.judge_route, "messages": judge_messages(case, spec, text)}
            tag = f"{case.id}#{sample}@{release}"
            reply = await self.caller.chat(body, plan.judge.id, tag)
            rating = parse_rating(reply.text, spec.scale)  # raises before the cache keeps it
            self.cache.put(key, reply)
            self.result.cost_usd += _price(reply, plan.judge)
        else:
            self.result.cached += 1
            rating = parse_rating(reply.text, spec.scale)
        used = JudgeProvenance(reply.route, reply.release, reply.prompt, reply.model)
        if self.result.judge is None:
            self.result.judge = used
        elif used != self.result.judge:  # a verdict names one judge: never mix two
            raise JudgeError(f"judge changed during the run: {self.result.judge} then {used}")
        return rating

    async def _one(self, case: Case, release: str, sample: int) -> None:
        answer = await self._answer(case, release, sample)
        self.result.answers[(case.id, release, sample)] = answer
        for spec in case.specs():
            if spec.name == "judge":
                rating = await self._rate(case, spec, release, sample, answer.text)
                self.result.ratings[(case.id, release, sample, spec.metric_name)] = rating
        self.progress(1)

    async def run(self, concurrency: int) -> RunResult:
        queue: asyncio.Queue[tuple[Case, str, int]] = asyncio.Queue()
        for release in self.plan.releases:
            for case in self.plan.dataset.cases:
                for sample in range(self.plan.samples):
                    queue.put_nowait((case, release, sample))

        async def worker() -> None:
            while not queue.empty():
                await self._one(*queue.get_nowait())

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(concurrency, queue.qsize())):
                    group.create_task(worker())
        except ExceptionGroup as failed:  # the first failure stops the run: raise it as itself
            raise _first(failed) from None
        self.result.sent = self.caller.sent
        return self.result


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


async def run(
    plan: Plan, caller: Caller, cache: ResultCache, concurrency: int, progress: Progress
) -> RunResult:
    return await _Run(plan, caller, cache, progress).run(concurrency)


def metric_scores(
    plan: Plan, result: RunResult, baseline: str, candidate: str
) -> list[MetricScores]:
    """Per metric, the paired per-case scores (each the mean over the case's samples)."""
    dataset = plan.dataset
    clustered = any(case.cluster for case in dataset.cases)
    specs = dataset.metrics()
    rows: dict[str, tuple[list[str], list[float], list[float], list[str]]] = {
        name: ([], [], [], []) for name in specs
    }

    def mean_score(case: Case, spec: ScorerSpec, release: str) -> float:
        total = 0.0
        for sample in range(plan.samples):
            if spec.name == "judge":
                total += result.ratings[(case.id, release, sample, spec.metric_name)]
            else:
                answer = result.answers[(case.id, release, sample)]
                total += score(spec, case.expected, answer.text)
        return total / plan.samples

    for case in dataset.cases:
        for spec in case.specs():
            ids, base, cand, clusters = rows[spec.metric_name]
            ids.append(case.id)
            base.append(mean_score(case, spec, baseline))
            cand.append(mean_score(case, spec, candidate))
            clusters.append(case.cluster or f"case:{case.id}")
    return [
        MetricScores(
            name=name,
            kind="ordinal" if SCORER_KIND[spec.name] == "ordinal" else "binary",
            case_ids=rows[name][0],
            baseline=rows[name][1],
            candidate=rows[name][2],
            clusters=rows[name][3] if clustered else None,
            blocking=spec.blocking,
        )
        for name, spec in specs.items()
    ]

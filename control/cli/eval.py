"""`turnout eval run` and `turnout release show`: run the eval gate, read a release's verdict.

`eval run` reads the route and its releases from the admin API, estimates the cost, sends every
case through the gateway pinned to the baseline and the candidate (a progress bar on stderr),
decides the verdict, prints its report and stores it on the candidate release. Exit 0 when the
gate passes, 1 when it fails or the data are insufficient (or on bad input), 4 on an unreachable
or failing gateway or admin API.
"""

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from control.cli import output
from control.cli.client import AdminClient
from control.eval import cost, runner
from control.eval.cache import ResultCache
from control.eval.calls import Caller, CallFailed
from control.eval.dataset import DatasetError, load
from control.eval.judge import JudgeError
from control.eval.record import GateRecord, markdown
from control.eval.verdict import GateSettings, decide
from gateway.contract.snapshot import ReleaseSpec

EXIT_REFUSED, EXIT_UNREACHABLE = 1, 4
DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080"


def _release_spec(release: Any) -> ReleaseSpec:
    return msgspec.convert(
        {k: release[k] for k in ("id", "model", "prompt", "params", "artifacts")}, ReleaseSpec
    )


def _releases(route: Any) -> dict[str, ReleaseSpec]:
    return {r["id"]: _release_spec(r) for r in route["releases"]}


def _fail(message: str, code: int = EXIT_REFUSED) -> int:
    print(f"turnout: {message}", file=sys.stderr)
    return code


def _plan(client: AdminClient, args: argparse.Namespace) -> tuple[runner.Plan, str, str] | str:
    try:
        dataset = load(Path(args.dataset))
    except DatasetError as error:
        return str(error)
    route = client.call("GET", f"/admin/routes/{args.route}")
    releases = _releases(route)
    baseline = route["stable"] if args.baseline == "stable" else args.baseline
    for flag, release in (("--candidate", args.candidate), ("--baseline", baseline)):
        if release not in releases:
            return f"{flag}: release {release!r} does not exist on route {args.route!r}"
    if baseline == args.candidate:
        return f"--candidate {args.candidate} is the baseline; pick another release"
    judged = any(spec.name == "judge" for spec in dataset.metrics().values())
    judge_route = judge = None
    if judged:
        if not args.judge_route:
            return "the dataset has judge scorers: pass --judge-route ROUTE"
        judge_route = args.judge_route
        judged_by = client.call("GET", f"/admin/routes/{judge_route}")
        judge = _releases(judged_by)[judged_by["stable"]]
    plan = runner.Plan(
        route=args.route,
        releases={baseline: releases[baseline], args.candidate: releases[args.candidate]},
        dataset=dataset,
        samples=args.samples,
        judge_route=judge_route,
        judge=judge,
    )
    return plan, baseline, args.candidate


def estimate(plan: runner.Plan) -> tuple[int, float]:
    """(calls, USD) before any retry or cache hit."""
    calls, usd = 0, 0.0
    judged = [(case, s) for case in plan.dataset.cases for s in case.specs() if s.name == "judge"]
    for spec in plan.releases.values():
        calls += len(plan.dataset.cases) * plan.samples
        usd += plan.samples * sum(cost.answer_cost(case, spec) for case in plan.dataset.cases)
        if plan.judge is not None:
            calls += len(judged) * plan.samples
            usd += plan.samples * sum(cost.judge_cost(case, plan.judge) for case, _ in judged)
    return calls, usd


async def _run(plan: runner.Plan, args: argparse.Namespace, cache: ResultCache) -> runner.RunResult:
    total = len(plan.releases) * len(plan.dataset.cases) * plan.samples
    console = Console(stderr=True)
    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=args.json) as progress:
        task = progress.add_task("eval", total=total)
        limits = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=limits) as http:
            caller = Caller(
                http,
                args.gateway_url,
                args.api_key,
                retries=args.retries,
                backoff_s=args.backoff_s,
                timeout_s=args.timeout_s,
            )
            return await runner.run(
                plan, caller, cache, args.concurrency, lambda n: progress.advance(task, n)
            )


def eval_run(client: AdminClient, args: argparse.Namespace) -> int:
    if args.samples < 1 or args.concurrency < 1 or args.retries < 0:
        return _fail("--samples and --concurrency must be at least 1, --retries at least 0")
    try:
        settings = msgspec.convert(
            {
                "margin": args.margin,
                "alpha": args.alpha,
                "resamples": args.resamples,
                "seed": args.seed,
            },
            GateSettings,
        )
    except msgspec.ValidationError as error:
        return _fail(f"--{str(error).rpartition('$.')[2].rstrip('`')}: {error}")
    planned = _plan(client, args)
    if isinstance(planned, str):
        return _fail(planned)
    plan, baseline, candidate = planned
    calls, usd = estimate(plan)
    print(
        f"eval {plan.route}: {candidate} vs {baseline}, {len(plan.dataset.cases)} cases x "
        f"{plan.samples} sample(s); estimate {calls} calls, ${usd:.4f} (before cache hits)",
        file=sys.stderr,
    )
    cache_path = Path(args.cache or Path(args.data_dir) / "eval-cache" / f"{plan.route}.jsonl")
    cache = ResultCache(cache_path)
    try:
        result = asyncio.run(_run(plan, args, cache))
    except CallFailed as error:
        return _fail(f"eval call failed: {error} (finished results are cached)", EXIT_UNREACHABLE)
    except JudgeError as error:
        return _fail(f"unusable judgement: {error} (finished results are cached)")
    finally:
        cache.close()
    must_pass = frozenset(case.id for case in plan.dataset.cases if case.must_pass)
    scores = runner.metric_scores(plan, result, baseline, candidate)
    verdict = decide(scores, must_pass, settings)
    record = GateRecord(
        route=plan.route,
        candidate=candidate,
        baseline=baseline,
        dataset=Path(args.dataset).name,
        dataset_hash=plan.dataset.content_hash,
        cases=len(plan.dataset.cases),
        samples=plan.samples,
        judge=result.judge,
        verdict=verdict,
        scores=scores,
        calls=result.sent,
        cached=result.cached,
        cost_estimate_usd=usd,
        cost_usd=result.cost_usd,
        finished_at=datetime.now(UTC),
    )
    if not args.no_post:
        client.call("PUT", f"/admin/routes/{plan.route}/releases/{candidate}/gate", record)
    report = markdown(record)
    if args.report:
        Path(args.report).write_text(report, encoding="utf-8")
    output.emit_json(record) if args.json else output.emit(report)
    return 0 if verdict.outcome == "pass" else EXIT_REFUSED


def release_show(client: AdminClient, args: argparse.Namespace) -> int:
    route = client.call("GET", f"/admin/routes/{args.route}")
    found = [r for r in route["releases"] if r["id"] == args.release]
    if not found:
        return _fail(f"release {args.release!r} does not exist on route {args.route!r}")
    gate = client.call("GET", f"/admin/routes/{args.route}/releases/{args.release}/gate")
    if args.json:
        output.emit_json({"release": found[0], "gate": gate})
        return 0
    release = found[0]
    output.emit(
        f"{args.route} {release['id']}: weight {output.percent(release['weight'])}%, "
        f"change {release['change_type']}, prompt "
        f"{release['prompt']['ref'] if release['prompt'] else '-'}, model "
        f"{release['model']['ref']}, params {output.pairs(release['params']) or '-'}"
    )
    status = gate["status"]
    output.emit(f"gate: {status}" + (f" ({'; '.join(gate['stale'])})" if gate["stale"] else ""))
    if gate["report"]:
        output.emit("")
        output.emit(gate["report"].rstrip())
    return 0


def add_verbs(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    common: argparse.ArgumentParser,
    releases: "argparse._SubParsersAction[argparse.ArgumentParser]",
    wrap: Any,
) -> None:
    show = releases.add_parser(
        "show", help="a release with its eval gate verdict", parents=[common]
    )
    show.add_argument("route")
    show.add_argument("release")
    show.set_defaults(run=wrap(release_show))

    evals = commands.add_parser("eval", help="the eval gate").add_subparsers(
        dest="verb", required=True
    )
    run = evals.add_parser(
        "run",
        help="compare a candidate with stable on a dataset; store the verdict",
        parents=[common],
    )
    run.add_argument("route")
    run.add_argument("--candidate", required=True, help="release under test, rN")
    run.add_argument("--baseline", default="stable", help="release to compare with (stable)")
    run.add_argument("--dataset", required=True, help="cases, JSONL")
    run.add_argument("--samples", type=int, default=1, help="answers per case and release")
    run.add_argument("--concurrency", type=int, default=8, help="calls in flight (8)")
    run.add_argument("--judge-route", help="route whose stable release judges `judge` scorers")
    run.add_argument("--margin", type=float, default=0.02, help="non-inferiority margin (0.02)")
    run.add_argument("--alpha", type=float, default=0.05, help="one-sided error budget (0.05)")
    run.add_argument("--resamples", type=int, default=10_000, help="bootstrap B (10000)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--retries", type=int, default=4, help="on 429, 5xx, time-outs (4)")
    run.add_argument("--backoff-s", type=float, default=0.5, help="first retry wait (0.5)")
    run.add_argument("--timeout-s", type=float, default=120.0, help="per call (120)")
    run.add_argument(
        "--gateway-url",
        default=os.environ.get("TURNOUT_GATEWAY_URL") or DEFAULT_GATEWAY_URL,
        help=f"TURNOUT_GATEWAY_URL, default {DEFAULT_GATEWAY_URL}",
    )
    run.add_argument(
        "--api-key",
        default=os.environ.get("TURNOUT_GATEWAY_KEY"),
        help="gateway client key with the pin capability (TURNOUT_GATEWAY_KEY)",
    )
    run.add_argument("--cache", help="result cache file (<data-dir>/eval-cache/ROUTE.jsonl)")
    run.add_argument("--report", help="also write the Markdown report here")
    run.add_argument("--no-post", action="store_true", help="do not store the verdict")
    run.set_defaults(run=wrap(eval_run))

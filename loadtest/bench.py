"""`python -m loadtest.bench`: direct, nginx proxy and Turnout measured in one run on two CPUs.

Prints a Markdown table and writes it to loadtest/results/latest.md. Traffic goes to 127.0.0.1
only; every process it starts is stopped before it exits.
"""

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest import profile, stream, tools, wrk
from loadtest.procs import ChildFailed, cpu_times, pinned
from loadtest.report import (
    EIGHT,
    HALF,
    ONE,
    TURNOUT,
    BenchResults,
    Run,
    TargetResults,
    markdown,
    target_checks,
)
from loadtest.seed import STREAM_ROUTE
from loadtest.stack import REQUEST_BODY, Stack, Target, counted_calls

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
WARMUP_S = 2.0
HALF_LOAD_THINK_MS = 16  # mean think time per paced connection


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__)
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of load per target and load level"
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per load level")
    parser.add_argument("--connections", type=int, default=64, help="for saturation")
    parser.add_argument("--streams", type=int, default=200, help="sequential streamed calls")
    parser.add_argument("--sut-cpu", type=int, default=0, help="CPU of the proxy under test")
    parser.add_argument("--load-cpu", type=int, default=1, help="CPU of wrk and the upstreams")
    parser.add_argument("--profile", action="store_true", help="also py-spy Turnout under load")
    parser.add_argument("--profile-only", action="store_true", help="only the py-spy profile")
    parser.add_argument("--profile-connections", type=int, default=0, help="default: saturation")
    parser.add_argument("--native", action="store_true", help="py-spy with native frames")
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the gateway (repeatable), e.g. TURNOUT_FLUSH_INTERVAL_S=5",
    )
    parser.add_argument("--no-install", action="store_true", help="never apt-get install")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.md")
    return parser.parse_args(argv)


class Driver:
    """Runs wrk against targets and notes the CPU use on both sides."""

    def __init__(self, stack: Stack, duration_s: float) -> None:
        self.stack = stack
        self.duration_s = duration_s

    def run(
        self, target: Target, connections: int, pacing: wrk.Pacing | None = None, warm: bool = False
    ) -> Run:
        stack = self.stack
        sut_before = target.sut.cpu_seconds() if target.sut else 0.0
        sut_cpu_before, load_cpu_before = cpu_times(stack.sut_cpu), cpu_times(stack.load_cpu)
        result = wrk.run(
            target.url,
            connections=connections,
            duration_s=WARMUP_S if warm else self.duration_s,
            cpu=stack.load_cpu,
            body=REQUEST_BODY,
            workdir=stack.workdir,
            pacing=pacing,
        )
        sut_cores = None
        if target.sut is not None:
            sut_cores = (target.sut.cpu_seconds() - sut_before) / result.duration_s
        return Run(
            result,
            sut_cores,
            _busy(sut_cpu_before, cpu_times(stack.sut_cpu)),
            _busy(load_cpu_before, cpu_times(stack.load_cpu)),
        )


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def _say(message: str) -> None:
    print(f"loadtest: {message}", file=sys.stderr, flush=True)


def interleaved(
    driver: Driver,
    targets: dict[str, Target],
    rounds: int,
    connections: int,
    pacing: wrk.Pacing | None = None,
) -> dict[str, Run]:
    """Each target in turn, `rounds` times, so a burst of noise on the host hits all alike."""
    merged: dict[str, Run] = {}
    for _ in range(rounds):
        for name, target in targets.items():
            run = driver.run(target, connections, pacing)
            merged[name] = merged[name].merged(run) if name in merged else run
    return merged


def measure(stack: Stack, args: argparse.Namespace, results: BenchResults) -> None:
    targets = stack.targets
    driver = Driver(stack, args.duration / args.rounds)
    for name, target in targets.items():
        _say(f"{name}: warm-up")
        driver.run(target, args.connections, warm=True)
        results.targets[name] = TargetResults()
    _say(f"saturation: {args.connections} connections")
    for name, run in interleaved(driver, targets, args.rounds, args.connections).items():
        results.targets[name].saturation = run
    for load, connections in ((ONE, 1), (EIGHT, 8)):
        _say(load)
        for name, run in interleaved(driver, targets, args.rounds, connections).items():
            results.targets[name].latency[load] = run
    turnout_saturation = results.targets[TURNOUT].saturation
    assert turnout_saturation is not None
    rate = turnout_saturation.wrk.rps / 2
    results.half_rate_rps = rate
    connections = max(2, min(args.connections, round(rate * HALF_LOAD_THINK_MS / 1000)))
    pacing = wrk.Pacing.for_rate(rate, connections)
    results.half_connections = connections
    _say(f"half saturation: {rate:,.0f} req/s offered over {connections} paced connections")
    for name, run in interleaved(driver, targets, args.rounds, connections, pacing).items():
        results.targets[name].latency[HALF] = run
    for name, target in targets.items():
        _say(f"{name}: {args.streams} streamed calls")
        times = stream.measure(target.stream_port, STREAM_ROUTE, args.streams)
        results.targets[name].first_event = times
    for name, target in targets.items():
        if target.sut is not None:
            results.targets[name].peak_rss_kib = target.sut.peak_rss_kib()
    results.counted_calls = counted_calls(targets[TURNOUT].port)


def profile_turnout(stack: Stack, args: argparse.Namespace) -> str:
    """py-spy on the gateway while wrk drives it; returns (and writes) the ranked profile."""
    target = stack.targets[TURNOUT]
    assert target.sut is not None
    args.output.parent.mkdir(parents=True, exist_ok=True)
    raw = args.output.parent / "profile-raw.txt"
    seconds = max(3, round(args.duration))
    connections = args.profile_connections or args.connections
    _say(f"Turnout: py-spy for {seconds} s under {connections} connections")
    Driver(stack, WARMUP_S).run(target, connections, warm=True)
    spy = subprocess.Popen(
        pinned(stack.load_cpu, profile.command(target.sut.pid, seconds, raw, args.native)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)  # let py-spy attach before the load starts
    run = Driver(stack, seconds + 1).run(target, connections)
    _, errors = spy.communicate(timeout=60)
    if spy.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {errors.strip()[-500:]}")
    heading = (
        f"# Turnout under load: py-spy profile\n\n{connections} connections, "
        f"{run.wrk.rps:,.0f} req/s while sampled (py-spy slows the gateway a little).\n\n"
    )
    text = heading + profile.markdown(profile.analyse(raw, REPO))
    (args.output.parent / "profile.md").write_text(text)
    return text


def _check_machine(args: argparse.Namespace) -> None:
    tools.ensure(need_py_spy=args.profile or args.profile_only, may_install=not args.no_install)
    allowed = os.sched_getaffinity(0)
    if not {args.sut_cpu, args.load_cpu} <= allowed or args.sut_cpu == args.load_cpu:
        raise tools.MissingTools(
            f"need two distinct CPUs (--sut-cpu, --load-cpu) among {sorted(allowed)}"
        )


def _gateway_env(pairs: list[str]) -> dict[str, str]:
    env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    if len(env) != len(pairs):
        raise tools.MissingTools("--gateway-env takes NAME=VALUE")
    return env


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so every process the run started is stopped."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _check_machine(args)
        gateway_env = _gateway_env(args.gateway_env)
    except tools.MissingTools as problem:
        print(f"loadtest: {problem}", file=sys.stderr)
        return 1
    os.sched_setaffinity(0, {args.load_cpu})  # this driver stays off the SUT's CPU
    command = shlex.join([".venv/bin/python", "-m", "loadtest.bench", *(argv or sys.argv[1:])])
    results = BenchResults(
        machine=tools.describe_machine(),
        command=command,
        duration_s=args.duration,
        rounds=args.rounds,
        connections=args.connections,
        stream_count=args.streams,
        load_labels=[ONE, EIGHT, HALF],
    )
    profile_text = ""
    with tempfile.TemporaryDirectory(prefix="turnout-bench-") as workdir:
        stack = Stack(Path(workdir), args.sut_cpu, args.load_cpu, gateway_env)
        try:
            stack.start()
            if not args.profile_only:
                measure(stack, args, results)
            if args.profile or args.profile_only:
                profile_text = profile_turnout(stack, args)
        except (ChildFailed, RuntimeError) as failure:
            print(f"loadtest: {failure}", file=sys.stderr)
            return 1
        finally:
            stack.stop()
    if args.profile_only:
        print(profile_text)
        _say(f"written to {args.output.parent / 'profile.md'}")
        return 0
    text = markdown(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + ("\n" + profile_text if profile_text else ""))
    print(text)
    if profile_text:
        print(profile_text)
    _say(f"written to {args.output}")
    if results.has_errors():
        return 2
    missed = [what for what, _, _, ok in target_checks(results) if ok is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())

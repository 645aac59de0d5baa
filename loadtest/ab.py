"""A/B of two gateway builds side by side on the SUT core, alternated under the same wrk.

B is this checkout's gateway (the benchmark stack's); A is another checkout of the project
(`--base DIR`, e.g. `git archive <commit> | tar -x -C DIR`), started with `PYTHONPATH=DIR`, so
run this from a directory without a `gateway` package (a cwd's package would shadow DIR's).
Prints, per load, the median over rounds of CPU per call (CPU-seconds of the gateway process ÷
calls), req/s, p50 and p99, and direct's latency at the same loads.
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from loadtest import wrk
from loadtest.bench import Driver
from loadtest.procs import Child, free_port
from loadtest.report import DIRECT, TURNOUT
from loadtest.stack import Stack, Target
from loadtest.turnout_gateway import start_gateway, wait_ready

LOADS = ("sat64", "one", "half", "stream32")
_CONNECTIONS = {"sat64": 64, "one": 1, "half": 64, "stream32": 32}
Row = tuple[float, float, float, float, int]  # CPU µs per call, req/s, p50 ms, p99 ms, errors


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.ab", description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="checkout of build A")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--half-rate", type=float, default=7000.0, help="req/s for 'half'")
    parser.add_argument("--loads", default=",".join(LOADS), help=f"of {', '.join(LOADS)}")
    parser.add_argument("--sut-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    return parser.parse_args(argv)


def _start_base(stack: Stack, base: Path, workdir: Path, cpu: int) -> Target:
    assert stack.redis is not None
    port = free_port()
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(base.resolve())
    try:
        gateway: Child = start_gateway(port, stack.redis.url, workdir / "gateway-a", cpu)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    stack.children.append(gateway)
    wait_ready(gateway, port)
    return Target(TURNOUT, port, port, gateway)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    loads = [load for load in args.loads.split(",") if load]
    workdir = Path(tempfile.mkdtemp(prefix="turnout-ab-"))
    stack = Stack(workdir, args.sut_cpu, args.load_cpu)
    stack.start()
    try:
        targets = {
            "A": _start_base(stack, args.base, workdir, args.sut_cpu),
            "B": stack.targets[TURNOUT],
            DIRECT: stack.targets[DIRECT],
        }
        driver = Driver(stack, args.duration)
        for target in targets.values():
            driver.run(target, 64, warm=True)
        pacing = wrk.Pacing.for_rate(args.half_rate, _CONNECTIONS["half"])
        rows: dict[tuple[str, str], list[Row]] = {}
        for number in range(args.rounds):
            for name, target in targets.items():
                for load in loads:
                    streaming = load == "stream32"
                    if name == DIRECT and load in ("sat64", "stream32"):
                        continue
                    run = driver.run(
                        target,
                        _CONNECTIONS[load],
                        pacing if load == "half" else None,
                        streaming=streaming,
                    )
                    result = run.wrk
                    cores = run.sut_cores
                    cpu_us = cores * result.duration_s / result.requests * 1e6 if cores else 0.0
                    row = (cpu_us, result.rps, result.p50_ms, result.p99_ms, result.error_count)
                    rows.setdefault((load, name), []).append(row)
            load_average = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"round {number + 1}: load average {load_average}", file=sys.stderr)
        for (load, name), runs in rows.items():
            cpu, rps, p50, p99 = (statistics.median(r[i] for r in runs) for i in range(4))
            errors = sum(r[4] for r in runs)
            print(
                f"{load:9s} {name:7s} CPU/call {cpu:6.1f} µs  req/s {rps:8,.0f}  "
                f"p50 {p50:.3f} ms  p99 {p99:.3f} ms  errors {errors}  "
                f"p99 by round {[round(r[3], 2) for r in runs]}"
            )
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's figures and their Markdown rendering. Pure: no processes, no I/O."""

import math
from dataclasses import dataclass, field

from loadtest.held import HeldStreams
from loadtest.stream import FirstEventTimes
from loadtest.wrk import WrkResult

DIRECT, NGINX, TURNOUT = "direct", "nginx proxy", "Turnout"
ONE, EIGHT, HALF = "1 connection", "8 connections", "half saturation"
LABELS = {
    DIRECT: "direct to upstream",
    NGINX: "nginx reverse proxy",
    TURNOUT: "Turnout gateway",
}
# Turnout's targets on one core, against nginx and direct in the same run: SPEC's floor, and
# the hot path's (added latency: (p50, p99) in ms by load).
MIN_RPS = 3000.0
MIN_PER_CORE_OF_NGINX = 0.25
MAX_ADDED_MS = {"1 connection": (0.25, 1.0), "half saturation": (0.3, 1.5)}
MAX_FIRST_EVENT_ADDED_MS = 0.3
MAX_RSS_MB = 80.0  # including 64 streams held open
RSS_STREAMS = 64
NONE = "n/a"
LOAD_BOUND = 0.9  # load CPU this busy: the proxy's figure is a lower bound


@dataclass(frozen=True)
class Run:
    """One wrk run with the CPU use seen while it ran."""

    wrk: WrkResult
    sut_cores: float | None  # CPU seconds of the proxy's processes per second (None: direct)
    sut_cpu_busy: float  # fraction of the SUT CPU busy (all processes)
    load_cpu_busy: float  # fraction of the load CPU busy (wrk, upstream, simulator, redis)

    def merged(self, other: "Run") -> "Run":
        """Rounds of one load, weighted by their durations."""
        mine, theirs = self.wrk.duration_s, other.wrk.duration_s
        total = mine + theirs or 1.0

        def mean(a: float, b: float) -> float:
            return (a * mine + b * theirs) / total

        cores = None
        if self.sut_cores is not None and other.sut_cores is not None:
            cores = mean(self.sut_cores, other.sut_cores)
        return Run(
            self.wrk.merged(other.wrk),
            cores,
            mean(self.sut_cpu_busy, other.sut_cpu_busy),
            mean(self.load_cpu_busy, other.load_cpu_busy),
        )

    @property
    def rps_per_core(self) -> float | None:
        if not self.sut_cores:
            return None
        return self.wrk.rps / self.sut_cores


@dataclass
class TargetResults:
    saturation: Run | None = None
    latency: dict[str, Run] = field(default_factory=dict)  # load label -> run
    first_event: FirstEventTimes | None = None
    peak_rss_kib: int | None = None
    streaming: Run | None = None  # streamed calls at saturation
    held: list[tuple[HeldStreams, int]] = field(default_factory=list)  # with peak RSS after


@dataclass
class BenchResults:
    machine: str
    command: str
    duration_s: float
    rounds: int
    connections: int
    stream_count: int
    stream_connections: int = 0
    half_rate_rps: float = 0.0
    half_connections: int = 0
    load_labels: list[str] = field(default_factory=list)
    targets: dict[str, TargetResults] = field(default_factory=dict)
    counted_calls: int | None = None  # Turnout's own request counter after the runs

    def has_errors(self) -> bool:
        runs = [t.saturation for t in self.targets.values()] + [
            run for t in self.targets.values() for run in t.latency.values()
        ]
        runs += [t.streaming for t in self.targets.values()]
        streams = [t.first_event for t in self.targets.values() if t.first_event]
        held = [h for t in self.targets.values() for h, _ in t.held]
        return (
            any(r is not None and r.wrk.error_count for r in runs)
            or any(s.errors for s in streams)
            or any(h.errors for h in held)
        )


def _ms(value: float | None) -> str:
    return NONE if value is None or math.isnan(value) else f"{value:.3f}"


def _signed_ms(value: float | None) -> str:
    return NONE if value is None or math.isnan(value) else f"{value:+.3f}"


def _errors(result: WrkResult) -> str:
    return "0" if not result.error_count else f"**{result.error_count} ({result.error_text()})**"


def _load_cell(name: str, run: Run) -> str:
    flag = name != DIRECT and run.load_cpu_busy >= LOAD_BOUND
    return f"{run.load_cpu_busy:.0%}" + (" (load-bound: a lower bound)" if flag else "")


def _saturation_table(results: BenchResults, streaming: bool = False) -> list[str]:
    if streaming:
        title = (
            f"## Streamed calls at saturation ({results.stream_connections} connections, "
            "simulator upstream)"
        )
    else:
        title = f"## Throughput at saturation ({results.connections} connections, non-streaming)"
    out = [
        title,
        "",
        "| target | req/s | req/s per SUT core | SUT CPU busy | load CPU busy "
        "| p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, target in results.targets.items():
        run = target.streaming if streaming else target.saturation
        if run is None:
            continue
        per_core = run.rps_per_core
        out.append(
            f"| {LABELS[name]} | {run.wrk.rps:,.0f} | "
            f"{NONE if per_core is None else f'{per_core:,.0f}'} | "
            f"{NONE if name == DIRECT else f'{run.sut_cpu_busy:.0%}'} | {_load_cell(name, run)} | "
            f"{_ms(run.wrk.p50_ms)} | {_ms(run.wrk.p99_ms)} | {_errors(run.wrk)} |"
        )
    return out


def _latency_table(results: BenchResults) -> list[str]:
    out = [
        "## Latency, non-streaming (added = target minus direct at the same load)",
        "",
        "| load | target | req/s | SUT CPU busy | p50 ms | p99 ms | p99.9 ms | max ms "
        "| added p50 ms | added p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for load in results.load_labels:
        direct = results.targets.get(DIRECT, TargetResults()).latency.get(load)
        for name, target in results.targets.items():
            run = target.latency.get(load)
            if run is None:
                continue
            added50 = added99 = None
            if direct is not None and name != DIRECT:
                added50 = run.wrk.p50_ms - direct.wrk.p50_ms
                added99 = run.wrk.p99_ms - direct.wrk.p99_ms
            busy = NONE if name == DIRECT else f"{run.sut_cpu_busy:.0%}"
            out.append(
                f"| {load} | {LABELS[name]} | {run.wrk.rps:,.0f} | {busy} | "
                f"{_ms(run.wrk.p50_ms)} | {_ms(run.wrk.p99_ms)} | {_ms(run.wrk.p999_ms)} | "
                f"{_ms(run.wrk.max_ms)} | {_signed_ms(added50)} | {_signed_ms(added99)} | "
                f"{_errors(run.wrk)} |"
            )
    return out


def _stream_table(results: BenchResults) -> list[str]:
    out = [
        f"## Time to first streamed event ({results.stream_count} sequential streams, "
        "simulator upstream)",
        "",
        "| target | p50 ms | p99 ms | added p50 ms | added p99 ms | errors |",
        "|---|---:|---:|---:|---:|---|",
    ]
    direct_target = results.targets.get(DIRECT)
    direct = direct_target.first_event if direct_target else None
    for name, target in results.targets.items():
        times = target.first_event
        if times is None:
            continue
        added50 = added99 = None
        if direct is not None and name != DIRECT:
            added50, added99 = times.p50_ms - direct.p50_ms, times.p99_ms - direct.p99_ms
        errors = f"**{times.errors}**" if times.errors else "0"
        out.append(
            f"| {LABELS[name]} | {_ms(times.p50_ms)} | {_ms(times.p99_ms)} | "
            f"{_signed_ms(added50)} | {_signed_ms(added99)} | {errors} |"
        )
    return out


def _memory_table(results: BenchResults) -> list[str]:
    out = [
        "## Peak memory of the proxy (after every run above)",
        "",
        "| target | peak RSS MB |",
        "|---|---:|",
    ]
    for name, target in results.targets.items():
        if target.peak_rss_kib is not None:
            out.append(f"| {LABELS[name]} | {target.peak_rss_kib / 1024:.1f} |")
    return out


def _held_table(results: BenchResults) -> list[str]:
    out = [
        "## Streams held open at once (the simulator streams slowly; in this order, after "
        "the runs above)",
        "",
        "| target | streams | completed | RSS while all open MB | peak RSS so far MB | s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, target in results.targets.items():
        for held, peak_kib in target.held:
            done = f"{held.completed}" if not held.errors else f"**{held.completed}**"
            out.append(
                f"| {LABELS[name]} | {held.count:,} | {done} | {held.open_rss_kib / 1024:.1f} "
                f"| {peak_kib / 1024:.1f} | {held.seconds:.1f} |"
            )
    return out


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("pass" if ok else "**FAIL**")


def target_checks(results: BenchResults) -> list[tuple[str, str, str, bool | None]]:
    """(what, goal, measured, met) for each of Turnout's targets."""
    turnout = results.targets.get(TURNOUT)
    direct = results.targets.get(DIRECT)
    if turnout is None or direct is None:
        return []
    checks: list[tuple[str, str, str, bool | None]] = []
    if turnout.saturation is not None:
        rps = turnout.saturation.wrk.rps
        ok = rps >= MIN_RPS and not turnout.saturation.wrk.error_count
        checks.append(("throughput, one core", f"≥ {MIN_RPS:,.0f} req/s", f"{rps:,.0f}", ok))
        nginx = results.targets.get(NGINX)
        mine = turnout.saturation.rps_per_core
        theirs = nginx.saturation.rps_per_core if nginx and nginx.saturation else None
        if mine and theirs:
            share = mine / theirs
            checks.append(
                (
                    "req/s per core, share of nginx's",
                    f"≥ {MIN_PER_CORE_OF_NGINX:.0%}",
                    f"{share:.0%} ({mine:,.0f} / {theirs:,.0f})",
                    share >= MIN_PER_CORE_OF_NGINX,
                )
            )
    for load, (max50, max99) in MAX_ADDED_MS.items():
        mine_run, base = turnout.latency.get(load), direct.latency.get(load)
        if mine_run is None or base is None:
            continue
        added50 = mine_run.wrk.p50_ms - base.wrk.p50_ms
        added99 = mine_run.wrk.p99_ms - base.wrk.p99_ms
        checks.append((f"added p50, {load}", f"≤ {max50} ms", _ms(added50), added50 <= max50))
        checks.append((f"added p99, {load}", f"≤ {max99} ms", _ms(added99), added99 <= max99))
    if turnout.first_event is not None and direct.first_event is not None:
        added = turnout.first_event.p50_ms - direct.first_event.p50_ms
        ok = added <= MAX_FIRST_EVENT_ADDED_MS and not turnout.first_event.errors
        goal = f"≤ {MAX_FIRST_EVENT_ADDED_MS} ms later"
        checks.append(("first streamed event vs direct, p50", goal, _ms(added), ok))
    peak_kib = turnout.peak_rss_kib
    what = "peak RSS"
    for held, after_kib in turnout.held:
        if held.count == RSS_STREAMS:
            peak_kib, what = after_kib, f"peak RSS, {RSS_STREAMS} streams held open included"
    if peak_kib is not None:
        megabytes = peak_kib / 1024
        checks.append(
            (what, f"≤ {MAX_RSS_MB:.0f} MB", f"{megabytes:.1f} MB", megabytes <= MAX_RSS_MB)
        )
    for held, _ in turnout.held:
        if held.count > RSS_STREAMS:
            checks.append(
                (
                    f"{held.count:,} streams held open at once",
                    "all complete, memory bounded",
                    f"{held.completed:,} complete, {held.open_rss_kib / 1024:.1f} MB while open",
                    held.completed == held.count,
                )
            )
    return checks


def markdown(results: BenchResults) -> str:
    out = [
        "# Turnout benchmark",
        "",
        f"Command: `{results.command}`",
        "",
        f"Machine: {results.machine}",
        "",
        f"{results.duration_s:g} s of load per target and load level, in {results.rounds} "
        "rounds interleaved across the targets, after a warm-up; one wrk thread. Latency "
        "percentiles are per request as sent (wrk's coordinated-omission correction undone). "
        f"Half saturation: {results.half_rate_rps:,.0f} req/s (half of Turnout's saturation "
        f"rate) offered to every target over {results.half_connections} connections with a "
        "random think time each.",
        "",
    ]
    if results.has_errors():
        out += ["**This run had errors: see the errors columns.**", ""]
    out += [*_saturation_table(results), ""]
    if results.counted_calls is not None:
        out += [f"Turnout's own `/metrics` counted {results.counted_calls:,} calls.", ""]
    out += [*_latency_table(results), ""]
    out += [*_stream_table(results), ""]
    if any(t.streaming for t in results.targets.values()):
        out += [*_saturation_table(results, streaming=True), ""]
    out += [*_memory_table(results), ""]
    if any(t.held for t in results.targets.values()):
        out += [*_held_table(results), ""]
    checks = target_checks(results)
    if checks:
        out += ["## Turnout against its targets", "", "| what | goal | measured | |"]
        out += ["|---|---|---:|---|"]
        out += [f"| {what} | {goal} | {got} | {_verdict(ok)} |" for what, goal, got, ok in checks]
        out.append("")
    return "\n".join(out)

"""Driving wrk: a Lua script for the POST and its pacing, and the parsed result of one run.

The script's `done` hook prints one machine-readable summary line and the latency histogram
(µs -> count). wrk 4 "corrects" that histogram for coordinated omission before `done` sees it
(it adds synthetic samples for every slow answer, as if a fixed-rate client had been waiting);
`uncorrect` removes them again, so the percentiles here are those of the requests really sent.
"""

import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.procs import pinned

_SCRIPT = """
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
{delay}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
  local parts = {{}}
  for i = 1, #latency do
    local value, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", value, count)
  end
  io.write("HIST " .. table.concat(parts, " ") .. "\\n")
end
"""
# Uniform think time per connection, so paced connections do not fire in lock-step bursts.
_DELAY = "function delay() return math.random({low}, {high}) end"
_SUMMARY = re.compile(r"^BENCH (.*)$", re.MULTILINE)
_HISTOGRAM = re.compile(r"^HIST ?(.*)$", re.MULTILINE)
ERROR_KINDS = ("connect", "read", "write", "status", "timeout")


@dataclass(frozen=True)
class WrkResult:
    connections: int
    requests: int
    duration_s: float
    errors: dict[str, int]  # by wrk's kinds; "status" counts non-2xx/3xx answers
    latency_us: Counter[int] = field(default_factory=Counter)  # µs -> answers

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def error_text(self) -> str:
        parts = [f"{count} {kind}" for kind, count in self.errors.items() if count]
        return ", ".join(parts) if parts else "none"

    def percentile_ms(self, q: float) -> float:
        total = sum(self.latency_us.values())
        if not total:
            return float("nan")
        rank = max(1, round(q * total))
        seen = 0
        for value in sorted(self.latency_us):
            seen += self.latency_us[value]
            if seen >= rank:
                return value / 1000
        return max(self.latency_us) / 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(0.99)

    @property
    def p999_ms(self) -> float:
        return self.percentile_ms(0.999)

    @property
    def max_ms(self) -> float:
        return max(self.latency_us, default=0) / 1000

    def merged(self, other: "WrkResult") -> "WrkResult":
        """Two runs of the same load as one (rounds interleaved with other targets)."""
        errors = {k: self.errors.get(k, 0) + other.errors.get(k, 0) for k in ERROR_KINDS}
        return WrkResult(
            self.connections,
            self.requests + other.requests,
            self.duration_s + other.duration_s,
            errors,
            self.latency_us + other.latency_us,
        )


@dataclass(frozen=True)
class Pacing:
    """Think time before each request on a connection, in whole milliseconds (wrk's unit)."""

    mean_ms: int

    @classmethod
    def for_rate(cls, rate_rps: float, connections: int) -> "Pacing":
        return cls(max(2, round(connections * 1000 / rate_rps)))


def script(body: bytes, pacing: Pacing | None) -> str:
    text = body.decode()
    if "]]" in text:
        raise ValueError("the request body must not contain ']]' (Lua long string)")
    delay = ""
    if pacing is not None:
        low = max(1, pacing.mean_ms // 2)
        delay = _DELAY.format(low=low, high=2 * pacing.mean_ms - low)
    return _SCRIPT.format(body=text, delay=delay)


def run(
    url: str,
    *,
    connections: int,
    duration_s: float,
    cpu: int,
    body: bytes,
    workdir: Path,
    pacing: Pacing | None = None,
) -> WrkResult:
    script_file = workdir / f"wrk-{connections}-{pacing.mean_ms if pacing else 0}.lua"
    script_file.write_text(script(body, pacing))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "5s"]
    done = subprocess.run(
        pinned(cpu, [*command, "-s", str(script_file), url]),
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    summary, histogram = _SUMMARY.search(done.stdout), _HISTOGRAM.search(done.stdout)
    if done.returncode != 0 or summary is None or histogram is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(summary.group(1), histogram.group(1), connections)


def parse(summary: str, histogram: str, connections: int) -> WrkResult:
    number = {key: int(value) for key, value in (i.split("=", 1) for i in summary.split())}
    corrected = Counter[int]()
    for pair in histogram.split():
        value, count = pair.split(":")
        corrected[int(value)] += int(count)
    requests, duration_us = number["requests"], number["duration_us"]
    per_connection = requests // connections
    expected_us = duration_us // per_connection if per_connection else 0
    return WrkResult(
        connections=connections,
        requests=requests,
        duration_s=duration_us / 1e6,
        errors={kind: number[kind] for kind in ERROR_KINDS},
        latency_us=uncorrect(corrected, expected_us),
    )


def uncorrect(corrected: Counter[int], expected_us: int) -> Counter[int]:
    """Invert wrk's `stats_correct`: each sample n >= 2e added its count at n-e, n-2e, … (> e).

    Walking down from the largest value, the synthetic part of a bin is the sum of the original
    counts above it in the same residue class modulo e.
    """
    if expected_us <= 0:
        return Counter(corrected)
    original = Counter[int]()
    carried: dict[int, int] = {}  # residue mod e -> sum of original counts at n >= 2e seen so far
    for value in sorted(corrected, reverse=True):
        residue = value % expected_us
        synthetic = carried.get(residue, 0) if value > expected_us else 0
        count = corrected[value] - synthetic
        if count > 0:
            original[value] = count
        if value >= 2 * expected_us:
            carried[residue] = carried.get(residue, 0) + max(count, 0)
    return original

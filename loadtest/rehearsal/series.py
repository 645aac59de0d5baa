"""Time series of a run for the report's plots: offered and achieved rate, each release's share,
error rate, thumbs-down rate and latency percentiles per time bin. Pure numpy over the records.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from loadtest.rehearsal.records import ANSWERED, DOWN, SHED, UNSENT, UP, CallLog
from loadtest.rehearsal.schedule import Schedule

_BIN_CHOICES_S = (0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300)
_MAX_BINS = 160
MIN_PER_BIN = 5  # fewer calls (or ratings) than this in a bin: no point is drawn

Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


def bin_width(load_s: float) -> float:
    for width in _BIN_CHOICES_S:
        if load_s / width <= _MAX_BINS:
            return float(width)
    return float(_BIN_CHOICES_S[-1])


def _points(values: Floats) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 6) for v in values]


def _ratio(top: Floats, bottom: Floats, minimum: int = MIN_PER_BIN) -> Floats:
    out = np.full(top.shape, np.nan)
    enough = bottom >= minimum
    out[enough] = top[enough] / bottom[enough]
    return out


def _count(times: Floats, mask: Mask, edges: Floats) -> Floats:
    counts, _ = np.histogram(times[mask], bins=edges)
    return counts.astype(np.float64)


def _percentiles(times: Floats, values: Floats, mask: Mask, edges: Floats, q: float) -> Floats:
    index = np.digitize(times[mask], edges) - 1
    chosen = values[mask]
    out = np.full(edges.size - 1, np.nan)
    order = np.argsort(index, kind="stable")
    index, chosen = index[order], chosen[order]
    starts = np.searchsorted(index, np.arange(edges.size - 1), side="left")
    ends = np.searchsorted(index, np.arange(edges.size - 1), side="right")
    for position, (start, end) in enumerate(zip(starts, ends, strict=True)):
        if end - start >= MIN_PER_BIN:
            out[position] = np.percentile(chosen[start:end], q)
    return out


def build(log: CallLog, schedule: Schedule, pinned: Mask, load_s: float) -> dict[str, Any]:
    width = bin_width(load_s)
    last = max(load_s, float(np.nanmax(log.done_s, initial=0.0)))  # drained calls count too
    edges = np.arange(0.0, last + width, width)
    if edges.size < 2:
        edges = np.array([0.0, width])
    answered = log.outcome == ANSWERED
    sent, done = log.sent_s, log.done_s
    latency_ms = (done - sent) * 1000
    fired = ~np.isnan(sent)
    due = log.outcome != UNSENT  # sent or shed: offered either way
    series: dict[str, Any] = {
        "bin_s": width,
        "t": _points(edges[:-1] + width / 2),
        "offered_per_s": _points(_count(schedule.due_s, due, edges) / width),
        "shed_per_s": _points(_count(schedule.due_s, log.outcome == SHED, edges) / width),
        "achieved_per_s": _points(_count(done, answered, edges) / width),
        "lost_per_s": _points(_count(sent, fired & ~answered, edges) / width),
        "lateness_p99_ms": _points(_percentiles(sent, log.lag_s * 1000, fired, edges, 99.0)),
        "share": {},
        "error_rate": {},
        "thumbs_down_rate": {},
        "latency_p50_ms": {},
        "latency_p99_ms": {},
    }
    users = answered & ~pinned & (log.release >= 0)
    all_users = _count(sent, users, edges)
    thumbs = (log.feedback == UP) | (log.feedback == DOWN)
    accepted = log.feedback_status == 202
    for index, release in enumerate(log.releases):
        mine = answered & (log.release == index)
        if not mine.any():
            continue
        series["share"][release] = _points(_ratio(_count(sent, users & mine, edges), all_users, 1))
        errors = _count(sent, mine & (log.status >= 400), edges)
        series["error_rate"][release] = _points(_ratio(errors, _count(sent, mine, edges)))
        rated = mine & thumbs & accepted
        downs = _count(sent, rated & (log.feedback == DOWN), edges)
        series["thumbs_down_rate"][release] = _points(_ratio(downs, _count(sent, rated, edges)))
        ok = mine & (log.status == 200)
        for name, q in (("latency_p50_ms", 50.0), ("latency_p99_ms", 99.0)):
            series[name][release] = _points(_percentiles(sent, latency_ms, ok, edges, q))
    return series

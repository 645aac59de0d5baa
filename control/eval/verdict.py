"""The gate's verdict from paired per-case scores: pure, deterministic for a given seed.

Per metric (differences d = candidate - baseline, scores on [0, 1]): the paired bootstrap lower
bound of the mean of d (cases or clusters resampled), plus the signed-rank test on d + margin for
ordinal judge scores and the paired-proportion interval for pass/fail scores. A metric's p-value
is the largest of its tests' (an intersection-union test: it passes only when every test does).
Holm adjusts across the blocking metrics. A metric with fewer cases than the margin needs is
"insufficient" unless it is clearly worse than the margin; any must-pass case going from pass to
fail blocks whatever the means say. No I/O here.
"""

import math
import zlib
from statistics import NormalDist
from typing import Annotated, Literal

import msgspec
import numpy as np

from control.eval.bootstrap import bootstrap_bounds, bootstrap_means, cluster_totals
from control.eval.proportion import paired_proportion
from control.eval.signed_rank import hodges_lehmann, signed_rank_test

Kind = Literal["binary", "continuous", "ordinal"]
Outcome = Literal["pass", "fail", "insufficient"]
PASS_SCORE = 0.5  # a case passes a metric when its (sample-averaged) score is at least this


class MetricScores(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Paired per-case scores of one metric, each the mean over the case's samples, in [0, 1]."""

    name: str
    kind: Kind
    case_ids: list[str]
    baseline: list[float]
    candidate: list[float]
    clusters: list[str] | None = None  # one per case; cases sharing one are resampled together
    blocking: bool = True

    def __post_init__(self) -> None:
        n = len(self.case_ids)
        if n == 0:
            raise ValueError(f"metric {self.name!r} has no cases")
        if len(self.baseline) != n or len(self.candidate) != n:
            raise ValueError(f"metric {self.name!r}: baseline and candidate need one score a case")
        if self.clusters is not None and len(self.clusters) != n:
            raise ValueError(f"metric {self.name!r}: clusters need one entry a case")


class GateSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    margin: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.02  # largest acceptable mean drop
    alpha: Annotated[float, msgspec.Meta(gt=0, lt=0.5)] = 0.05  # one-sided false-pass budget
    power: Annotated[float, msgspec.Meta(gt=0.5, lt=1)] = 0.8  # for the number of cases needed
    resamples: Annotated[int, msgspec.Meta(ge=100)] = 10_000
    seed: int = 0
    worst_cases: Annotated[int, msgspec.Meta(ge=0)] = 5


class Check(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str  # bootstrap, signed_rank, paired_proportion
    p_value: float
    lower: float | None = None  # one-sided lower bound of the difference, when the test has one
    method: str | None = None


class CaseDelta(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    case_id: str
    baseline: float
    candidate: float
    difference: float


class MetricVerdict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    kind: Kind
    blocking: bool
    outcome: Outcome
    reason: str
    n: int  # cases
    units: int  # resampling units: clusters when given, else cases
    estimate: float  # mean difference
    lower: float  # bootstrap one-sided lower bound (level alpha)
    upper: float  # bootstrap one-sided upper bound
    margin: float
    p_value: float  # largest p-value of the metric's tests
    holm_p: float  # Holm-adjusted across blocking metrics (= p_value for non-blocking ones)
    n_needed: int  # cases the margin needs at the requested power (planning value mu_d = 0)
    improved: float  # share of cases with d > 0
    regressed: float  # share with d < 0
    quantiles: dict[str, float]  # of d: p10, p50, p90
    checks: list[Check]
    worst_regressed: list[CaseDelta]
    hodges_lehmann: float | None = None  # ordinal metrics: pseudo-median of d
    hodges_lehmann_lower: float | None = None  # and its one-sided lower bound


class Verdict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    outcome: Outcome
    reason: str
    settings: GateSettings
    metrics: list[MetricVerdict]
    must_pass_regressions: list[str]  # must-pass cases that went from pass to fail


def cases_needed(sigma: float, settings: GateSettings, design_effect: float = 1.0) -> int:
    """n >= ((z_{1-alpha} + z_{power}) * sigma / margin)^2, times the clustering design effect."""
    z = NormalDist().inv_cdf(1 - settings.alpha) + NormalDist().inv_cdf(settings.power)
    return math.ceil((z * sigma / settings.margin) ** 2 * design_effect)


def _planning_sigma(d: np.ndarray) -> float:
    """Sd of d with one unseen improvement (+1) and one unseen regression (-1) added.

    The observed sd of a small set is often near zero (every case tied), which would claim a
    handful of cases suffices; the two pseudo-cases keep the planning value honest for small sets
    and vanish for large ones.
    """
    padded = np.concatenate([d, [1.0, -1.0]])
    return float(np.std(padded, ddof=1))


def _design_effect(d: np.ndarray, sums: np.ndarray, sizes: np.ndarray) -> float:
    n, groups = len(d), len(sums)
    if groups == n or groups < 2:
        return 1.0
    iid = float(np.var(d, ddof=1)) / n if n > 1 else 0.0
    clustered = groups / (groups - 1) * float(np.sum((sums - sizes * d.mean()) ** 2)) / n**2
    return max(1.0, clustered / iid) if iid > 0 else 1.0


def _tests(
    scores: MetricScores, d: np.ndarray, settings: GateSettings
) -> tuple[list[Check], float, float, tuple[float, float] | None]:
    sums, sizes = cluster_totals(d, scores.clusters)
    rng = np.random.default_rng([settings.seed, zlib.crc32(scores.name.encode())])
    means = bootstrap_means(sums, sizes, settings.resamples, rng)
    lower, upper, p_boot = bootstrap_bounds(
        means, float(d.mean()), len(sums), settings.alpha, settings.margin
    )
    tests = [Check("bootstrap", p_boot, lower, "expanded percentile")]
    hl = None
    if scores.kind == "ordinal":
        rank = signed_rank_test(d, settings.margin)
        tests.append(Check("signed_rank", rank.p_value, None, rank.method))
        hl = hodges_lehmann(d, settings.alpha)
    base = np.asarray(scores.baseline)
    cand = np.asarray(scores.candidate)
    binary = np.all((base == 0) | (base == 1)) and np.all((cand == 0) | (cand == 1))
    if scores.kind == "binary" and binary:
        clustered = scores.clusters is not None
        prop = paired_proportion(
            base == 1,
            cand == 1,
            settings.margin,
            settings.alpha,
            sums if clustered else None,
            sizes if clustered else None,
        )
        tests.append(Check("paired_proportion", prop.p_value, prop.lower, "wald"))
    return tests, lower, upper, hl


def _metric(
    scores: MetricScores, settings: GateSettings
) -> tuple[MetricVerdict, np.ndarray, np.ndarray]:
    base = np.asarray(scores.baseline, dtype=np.float64)
    cand = np.asarray(scores.candidate, dtype=np.float64)
    d = cand - base
    tests, lower, upper, hl = _tests(scores, d, settings)
    sums, sizes = cluster_totals(d, scores.clusters)
    needed = cases_needed(_planning_sigma(d), settings, _design_effect(d, sums, sizes))
    order = np.argsort(d, kind="mergesort")
    worst = [
        CaseDelta(scores.case_ids[i], float(base[i]), float(cand[i]), float(d[i]))
        for i in order[: settings.worst_cases]
        if d[i] < 0
    ]
    p10, p50, p90 = (float(q) for q in np.quantile(d, [0.1, 0.5, 0.9]))
    verdict = MetricVerdict(
        name=scores.name,
        kind=scores.kind,
        blocking=scores.blocking,
        outcome="insufficient",  # decided once Holm has seen every metric
        reason="",
        n=len(d),
        units=len(sums),
        estimate=float(d.mean()),
        lower=lower,
        upper=upper,
        margin=settings.margin,
        p_value=max(t.p_value for t in tests),
        holm_p=1.0,
        n_needed=needed,
        improved=float(np.mean(d > 0)),
        regressed=float(np.mean(d < 0)),
        quantiles={"p10": p10, "p50": p50, "p90": p90},
        checks=tests,
        worst_regressed=worst,
        hodges_lehmann=hl[0] if hl else None,
        hodges_lehmann_lower=hl[1] if hl else None,
    )
    return verdict, base, cand


def holm(p_values: list[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input's order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _outcome(metric: MetricVerdict, holm_p: float, alpha: float) -> tuple[Outcome, str]:
    if metric.upper < -metric.margin:
        return "fail", (
            f"worse than the margin: mean difference {metric.estimate:+.4f}, upper bound "
            f"{metric.upper:+.4f} < -{metric.margin:g}"
        )
    if metric.n < metric.n_needed:
        return "insufficient", (
            f"{metric.n} cases; the margin {metric.margin:g} needs about {metric.n_needed}"
        )
    if holm_p <= alpha:
        return "pass", (
            f"non-inferior: lower bound {metric.lower:+.4f} > -{metric.margin:g} "
            f"(Holm p {holm_p:.3g})"
        )
    return "fail", (
        f"not shown non-inferior: lower bound {metric.lower:+.4f}, margin -{metric.margin:g} "
        f"(Holm p {holm_p:.3g} > {alpha:g})"
    )


def decide(
    metrics: list[MetricScores], must_pass: frozenset[str], settings: GateSettings
) -> Verdict:
    if not any(m.blocking for m in metrics):
        raise ValueError("the gate needs at least one blocking metric")
    judged = [_metric(m, settings) for m in metrics]
    blocking = [i for i, m in enumerate(metrics) if m.blocking]
    adjusted = dict(zip(blocking, holm([judged[i][0].p_value for i in blocking]), strict=True))
    results: list[MetricVerdict] = []
    for index, (metric, _, _) in enumerate(judged):
        holm_p = adjusted.get(index, metric.p_value)
        outcome, reason = _outcome(metric, holm_p, settings.alpha)
        results.append(
            msgspec.structs.replace(metric, holm_p=holm_p, outcome=outcome, reason=reason)
        )
    regressions = _must_pass_regressions(metrics, judged, must_pass)
    outcome, reason = _overall(results, regressions)
    return Verdict(outcome, reason, settings, results, regressions)


def _must_pass_regressions(
    metrics: list[MetricScores],
    judged: list[tuple[MetricVerdict, np.ndarray, np.ndarray]],
    must_pass: frozenset[str],
) -> list[str]:
    """Must-pass cases passing every metric on the baseline and failing one on the candidate."""
    base_ok: dict[str, bool] = {}
    cand_ok: dict[str, bool] = {}
    for scores, (_, base, cand) in zip(metrics, judged, strict=True):
        for i, case_id in enumerate(scores.case_ids):
            if case_id in must_pass:
                base_ok[case_id] = base_ok.get(case_id, True) and bool(base[i] >= PASS_SCORE)
                cand_ok[case_id] = cand_ok.get(case_id, True) and bool(cand[i] >= PASS_SCORE)
    return sorted(c for c in base_ok if base_ok[c] and not cand_ok[c])


def _overall(results: list[MetricVerdict], regressions: list[str]) -> tuple[Outcome, str]:
    blocking = [m for m in results if m.blocking]
    if regressions:
        return "fail", f"must-pass cases regressed: {', '.join(regressions)}"
    failed = [m for m in blocking if m.outcome == "fail"]
    if failed:
        return "fail", "; ".join(f"{m.name}: {m.reason}" for m in failed)
    short = [m for m in blocking if m.outcome == "insufficient"]
    if short:
        needed = max(m.n_needed for m in short)
        return "insufficient", (
            f"too few cases for the margin {short[0].margin:g}: "
            + "; ".join(f"{m.name} has {m.n}, needs about {m.n_needed}" for m in short)
            + f" (add cases up to about {needed}, or widen the margin)"
        )
    return "pass", "every blocking metric is non-inferior within the margin"

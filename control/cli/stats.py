"""`turnout stats ROUTE [--window 15m]`: per-release quality table from the admin API."""

import argparse

from control.cli import output
from control.cli.client import AdminClient
from control.stats.compute import Quantiles, ReleaseStats, RouteStats


def _ms(quantiles: Quantiles | None, key: str) -> str:
    return "-" if quantiles is None else f"{getattr(quantiles, key):g}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _row(stats: ReleaseStats) -> list[object]:
    feedback = stats.feedback
    share = stats.observed_share_percent
    errors = ", ".join(f"{k}={v}" for k, v in stats.errors.items()) or "-"
    score = feedback.mean_score
    return [
        stats.release,
        output.percent(stats.weight_percent),
        "-" if share is None else output.percent(share),
        stats.requests,
        "-" if stats.distinct_keys is None else stats.distinct_keys,
        _rate(stats.error_rate),
        errors,
        _ms(stats.latency_ms, "p50"),
        _ms(stats.latency_ms, "p95"),
        _ms(stats.latency_ms, "p99"),
        _ms(stats.ttft_ms, "p50"),
        f"{stats.tokens_in}/{stats.tokens_out}",
        f"{stats.cost_usd:.4f}",
        feedback.count,
        _rate(feedback.thumbs_down_rate),
        "-" if score is None else f"{score:.3f}",
        "-" if feedback.score_variance is None else f"{feedback.score_variance:.3f}",
    ]


def stats(client: AdminClient, args: argparse.Namespace) -> int:
    found = client.call(
        "GET",
        f"/admin/routes/{args.route}/stats",
        query={"window": args.window},
        reply=RouteStats,
    )
    if args.json:
        output.emit_json(found)
        return 0
    headers = [
        "RELEASE", "WEIGHT%", "SHARE%", "REQS", "USERS", "ERR%", "ERRORS", "P50ms", "P95ms",
        "P99ms", "TTFT50ms", "TOKENS IN/OUT", "COST$", "FEEDBACK", "DOWN%", "SCORE", "SCORE VAR",
    ]  # fmt: skip
    title = f"{found.route} over the last {found.window}"
    srm = [
        f"{name} p = {value:.3g}"
        for name, value in (
            ("requests", found.srm_p_value),
            ("distinct users", found.srm_keys_p_value),
        )
        if value is not None
    ]
    if srm:
        title += f"; split check (sample-ratio mismatch) {', '.join(srm)}"
    output.emit(title + "\n" + output.table(headers, [_row(s) for s in found.releases]))
    return 0

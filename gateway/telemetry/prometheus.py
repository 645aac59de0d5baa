"""Prometheus exposition of the in-process aggregates, through a custom collector.

Recording stays plain integer adds on the hot path; the label work happens only at scrape time.
"""

from collections.abc import Callable, Iterator
from typing import NamedTuple

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.contract.histogram import UPPER_BOUNDS_S
from gateway.telemetry.recorder import Recorder

# Exposed `le` bounds: every 4th internal bound (~2.07x apart), so scrapes stay small and sums
# over the internal buckets stay exact.
_EXPOSED_STEP = 4


def _buckets(counts: list[int]) -> tuple[list[tuple[str, float]], int]:
    exposed: list[tuple[str, float]] = []
    running = 0
    for index, count in enumerate(counts):
        running += count
        if index < len(UPPER_BOUNDS_S) and index % _EXPOSED_STEP == 0:
            exposed.append((f"{UPPER_BOUNDS_S[index]:.6g}", running))
    exposed.append(("+Inf", running))
    return exposed, running


class SnapshotStatus(NamedTuple):
    """What the metrics show of the served snapshot, read at scrape time."""

    revisions: dict[str, int]  # route -> revision served
    weights_bp: dict[str, dict[str, int]]  # route -> release -> basis points served
    rejected: list[str]  # routes whose newest version could not be applied
    staleness_s: float  # since Redis last confirmed the snapshot (+Inf if never)
    redis_connected: bool
    data_lost: bool  # Redis lost its data; the last known good snapshot is served


class GatewayCollector(Collector):
    def __init__(self, recorder: Recorder, snapshot_status: Callable[[], SnapshotStatus]) -> None:
        self.recorder = recorder
        self.snapshot_status = snapshot_status

    def collect(self) -> Iterator[Metric]:
        labels = ["route", "release"]
        requests = CounterMetricFamily(
            "turnout_requests",
            "Calls by route, release and status class",
            labels=[*labels, "status_class"],
        )
        outcomes = CounterMetricFamily(
            "turnout_call_outcomes",
            "Calls by route, release and outcome class",
            labels=[*labels, "outcome"],
        )
        histograms = {
            "latency": HistogramMetricFamily(
                "turnout_request_duration_seconds", "End-to-end call time", labels=labels
            ),
            "upstream": HistogramMetricFamily(
                "turnout_upstream_duration_seconds", "Upstream answer time", labels=labels
            ),
            "added": HistogramMetricFamily(
                "turnout_gateway_added_seconds", "Time the gateway added to a call", labels=labels
            ),
            "ttft": HistogramMetricFamily(
                "turnout_time_to_first_token_seconds",
                "Time to the first streamed byte",
                labels=labels,
            ),
        }
        tokens = CounterMetricFamily(
            "turnout_tokens",
            "Tokens by route, release and direction",
            labels=[*labels, "direction"],
        )
        cost = CounterMetricFamily(
            "turnout_cost_usd", "Cost in USD from the model version's prices", labels=labels
        )
        feedback = CounterMetricFamily(
            "turnout_feedback",
            "Calls given feedback through this replica, by kind (up, down, score); "
            "a replaced feedback is not counted again",
            labels=[*labels, "kind"],
        )
        for stats in list(self.recorder.releases.values()):
            values = [stats.route, stats.release]
            tokens.add_metric([*values, "input"], stats.tokens_in)
            tokens.add_metric([*values, "output"], stats.tokens_out)
            cost.add_metric(values, stats.cost_usd)
            for kind, count in stats.feedback.items():
                feedback.add_metric([*values, kind], count)
            for status_class, count in stats.status_classes.items():
                requests.add_metric([*values, status_class], count)
            for outcome, count in stats.outcomes.items():
                outcomes.add_metric([*values, outcome], count)
            for name, family in histograms.items():
                buckets, _ = _buckets(getattr(stats, name))
                family.add_metric(values, buckets, sum_value=stats.sums[name])
        yield requests
        yield outcomes
        yield tokens
        yield cost
        yield feedback
        yield from histograms.values()
        rejected = CounterMetricFamily(
            "turnout_rejected", "Calls refused before a release was chosen", labels=["code"]
        )
        for code, count in self.recorder.rejected.items():
            rejected.add_metric([code], count)
        yield rejected
        apps = CounterMetricFamily(
            "turnout_app_requests",
            "Calls by client app (from TURNOUT_API_KEYS) and route",
            labels=["app", "route"],
        )
        for (app, route), count in self.recorder.apps.items():
            apps.add_metric([app, route], count)
        yield apps
        dropped = CounterMetricFamily(
            "turnout_telemetry_dropped",
            "Telemetry items dropped because a bounded buffer was full",
            labels=["kind"],
        )
        for kind, count in self.recorder.dropped.items():
            dropped.add_metric([kind], count)
        yield dropped
        refused = CounterMetricFamily(
            "turnout_upstream_refused",
            "Upstream answers the gateway refused (bad framing, over the size limit); each "
            "closed its connection",
            labels=["code"],
        )
        for code, count in self.recorder.upstream_refused.items():
            refused.add_metric([code], count)
        yield refused
        evals = CounterMetricFamily(
            "turnout_eval_requests",
            "Eval-gate calls (X-Turnout-Eval), kept out of every other per-release metric",
            labels=[*labels, "status_class"],
        )
        for stats in list(self.recorder.evals.values()):
            for status_class, count in stats.status_classes.items():
                evals.add_metric([stats.route, stats.release, status_class], count)
        yield evals
        yield from self._snapshot_metrics()

    def _snapshot_metrics(self) -> Iterator[Metric]:
        revision = GaugeMetricFamily(
            "turnout_route_revision",
            "Revision of each route in this replica's snapshot",
            labels=["route"],
        )
        status = self.snapshot_status()
        for name, number in status.revisions.items():
            revision.add_metric([name], number)
        yield revision
        weights = GaugeMetricFamily(
            "turnout_release_weight_percent",
            "Traffic share of each release in this replica's snapshot (percent)",
            labels=["route", "release"],
        )
        for name, route_weights in status.weights_bp.items():
            for release, basis_points in route_weights.items():
                weights.add_metric([name, release], basis_points / 100)
        yield weights
        rejected = GaugeMetricFamily(
            "turnout_route_change_rejected",
            "1 while a route's newest version could not be applied (the previous one is served)",
            labels=["route"],
        )
        for name in status.rejected:
            rejected.add_metric([name], 1.0)
        yield rejected
        yield GaugeMetricFamily(
            "turnout_snapshot_staleness_seconds",
            "Seconds since Redis last confirmed this replica's snapshot (+Inf if never)",
            value=status.staleness_s,
        )
        yield GaugeMetricFamily(
            "turnout_redis_connected",
            "1 while the sync task is connected to Redis",
            value=1.0 if status.redis_connected else 0.0,
        )
        yield GaugeMetricFamily(
            "turnout_redis_data_lost",
            "1 while Redis lost its data (epoch gone or changed): the last known good snapshot "
            "is served and not overwritten until a restore",
            value=1.0 if status.data_lost else 0.0,
        )

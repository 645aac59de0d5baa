"""docker/'s Prometheus config, alert rules and Grafana dashboard: they parse, fit the compose
layout, and every metric they name is one a real gateway exports on /metrics."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests import builders
from tests.conftest import publish_route
from tests.deploy import compose

PROMETHEUS = compose.DOCKER / "prometheus"
GRAFANA = compose.DOCKER / "grafana"
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((GRAFANA / "turnout.json").read_text())
    return loaded


def dashboard_expressions() -> list[str]:
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in _yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]


def metric_names(expression: str) -> set[str]:
    """Every series selector's metric name in a PromQL expression (it must parse)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def test_prometheus_scrapes_every_gateway_replica_of_the_compose_layout():
    config = _yaml(PROMETHEUS / "prometheus.yml")
    jobs = config["scrape_configs"]
    targets = {t for job in jobs for static in job["static_configs"] for t in static["targets"]}
    services = compose.load()["services"]
    gateways = {f"{n}:8080" for n, spec in services.items() if spec.get("command") == ["gateway"]}
    assert len(gateways) == 2 and targets == gateways
    mounts = services["prometheus"]["volumes"]
    assert "./prometheus:/etc/prometheus:ro" in mounts
    assert config["rule_files"] == ["alerts.yml"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Prometheus) not on PATH")
def test_promtool_accepts_the_config_and_the_alerts_fire_when_they_should():
    for command in (["check", "config", "prometheus.yml"], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run(
            ["promtool", *command], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_are_complete_and_their_expressions_parse():
    rules = alert_rules()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert metric_names(rule["expr"])  # parses, and names something
    names = {rule["alert"] for rule in rules}
    assert {"TurnoutSnapshotStale", "TurnoutReleaseErrorRateJump"} <= names
    jump = next(r for r in rules if r["alert"] == "TurnoutReleaseErrorRateJump")
    assert "by (route, release)" in jump["expr"]  # per release, not per fleet


def test_grafana_provisioning_matches_the_dashboard_and_compose():
    source = _yaml(GRAFANA / "provisioning/datasources/prometheus.yaml")["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    board = dashboard()
    uids = {p["datasource"]["uid"] for p in board["panels"] if p["type"] != "row"}
    assert uids == {source["uid"]}
    provider = _yaml(GRAFANA / "provisioning/dashboards/turnout.yaml")["providers"][0]
    mounts = compose.load()["services"]["grafana"]["volumes"]
    assert f"./grafana/turnout.json:{provider['options']['path']}/turnout.json:ro" in mounts
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_covers_what_an_operator_watches_per_release():
    used = set().union(*(metric_names(e) for e in dashboard_expressions()))
    for family in (
        "turnout_requests_total",  # request rate
        "turnout_call_outcomes_total",  # error rate
        "turnout_request_duration_seconds_bucket",  # latency percentiles
        "turnout_time_to_first_token_seconds_bucket",  # TTFT percentiles
        "turnout_tokens_total",
        "turnout_cost_usd_total",
        "turnout_feedback_total",  # thumbs-down rate
        "turnout_release_weight_percent",
        "turnout_snapshot_staleness_seconds",
        "turnout_telemetry_dropped_total",
    ):
        assert family in used, family


async def test_every_metric_in_the_dashboard_and_alerts_is_exported_by_a_gateway(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 100}), [builders.release("r1")]
    )
    gateway = await gateway_factory(redis_server.url)
    body = {"model": "bot", "messages": [{"role": "user", "content": "x"}]}
    for stream in (False, True):
        async with http.post(
            f"{gateway.url}/v1/chat/completions", json={**body, "stream": stream}
        ) as response:
            assert response.status == 200
            await response.read()
            call_id = response.headers["X-Turnout-Call-Id"]
    async with http.post(
        f"{gateway.url}/v1/feedback", json={"call_id": call_id, "value": "down"}
    ) as response:
        assert response.status == 202
    async with http.get(f"{gateway.url}/metrics") as response:
        exposition = await response.text()
    exported = {
        family.name + suffix
        for family in text_string_to_metric_families(exposition)
        for suffix in SERIES_SUFFIXES.get(family.type, ("",))
    }
    used = set().union(*(metric_names(e) for e in dashboard_expressions()))
    used |= set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    template = dashboard()["templating"]["list"][0]["definition"]
    used.add(template.removeprefix("label_values(").split(",")[0])
    assert used and used <= exported, sorted(used - exported)
    assert 'turnout_feedback_total{kind="down",release="r1",route="bot"} 1.0' in exposition

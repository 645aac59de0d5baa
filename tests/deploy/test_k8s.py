"""docker/k8s/: rendered as kustomize does, validated against the Kubernetes API schemas
(kubernetes-validate, offline, strict), and the references between resources checked."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import compose
from turnout.cli import build_parser

K8S = compose.DOCKER / "k8s"
CLUSTER_SCOPED = {"Namespace"}
KUBERNETES_VERSION = "1.30.0"


def render() -> list[dict[str, Any]]:
    """What `kustomize build docker/k8s` gives for the features this kustomization uses:
    resources, namespace, labels (on the resources, not on selectors or pod templates) and
    image names."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in kustomization["images"]}
    labels: dict[str, str] = {}
    for entry in kustomization["labels"]:
        assert entry.get("includeSelectors") is False
        labels.update(entry["pairs"])
    rendered = []
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / name).read_text()):
            metadata = document["metadata"]
            if document["kind"] not in CLUSTER_SCOPED:
                metadata["namespace"] = kustomization["namespace"]
            metadata["labels"] = {**metadata.get("labels", {}), **labels}
            template = document.get("spec", {}).get("template")
            if template is not None:
                for container in template["spec"]["containers"]:
                    container["image"] = images.get(container["image"], container["image"])
            rendered.append(document)
    return rendered


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def test_manifests_pass_the_kubernetes_schemas(tmp_path: Path):
    core = [r for r in render() if r["apiVersion"] != "monitoring.coreos.com/v1"]
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(core))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    done = subprocess.run(
        [str(validate), "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed for resource") == len(core)


def test_the_validator_is_live(tmp_path: Path):
    """A probe with a misspelt field fails strict validation: the check above can fail."""
    deployment = by_kind(render(), "Deployment")["turnout-gateway"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(deployment))
    validate = Path(sys.executable).with_name("kubernetes-validate")
    done = subprocess.run(
        [str(validate), "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (built-in kustomize) absent")
def test_kubectl_kustomize_renders_the_same_resources():
    done = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    )
    theirs = list(yaml.safe_load_all(done.stdout))
    key = lambda r: (r["kind"], r["metadata"]["name"], r["metadata"].get("namespace"))  # noqa: E731
    assert sorted(map(key, theirs)) == sorted(map(key, render()))
    assert sorted(theirs, key=key) == sorted(render(), key=key)


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _labels(resource: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = resource["metadata"]["labels"]
    return labels


def _matching(selector: dict[str, str], candidates: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, resource in candidates.items() if _selects(selector, _labels(resource))]


def test_references_between_resources_hold():
    resources = render()
    deployments = by_kind(resources, "Deployment")
    services = by_kind(resources, "Service")
    pods = {n: d["spec"]["template"] for n, d in deployments.items()}
    for name, deployment in deployments.items():
        assert _matching(deployment["spec"]["selector"]["matchLabels"], pods) == [name]
    for service in services.values():
        [target] = _matching(service["spec"]["selector"], pods)
        ports = {p["name"] for c in pods[target]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    for budget in by_kind(resources, "PodDisruptionBudget").values():
        [target] = _matching(budget["spec"]["selector"]["matchLabels"], pods)
        assert budget["spec"]["minAvailable"] < deployments[target]["spec"]["replicas"]
    hpa = by_kind(resources, "HorizontalPodAutoscaler")["turnout-gateway"]
    assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    monitor = by_kind(resources, "ServiceMonitor")["turnout-gateway"]
    assert _matching(monitor["spec"]["selector"]["matchLabels"], services) == ["turnout-gateway"]
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] in {p["name"] for p in services["turnout-gateway"]["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    config_maps = by_kind(resources, "ConfigMap")
    readme = (K8S / "README.md").read_text()
    for pod in pods.values():
        for container in pod["spec"]["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for variable in container.get("env", []):
                secret = variable.get("valueFrom", {}).get("secretKeyRef")
                if secret is not None:  # the Secret is the operator's; its keys are documented
                    assert secret["name"] == "turnout-secrets" and f"`{secret['key']}`" in readme


def test_processes_probes_and_sizing():
    deployments = by_kind(render(), "Deployment")
    gateway = deployments["turnout-gateway"]["spec"]["template"]["spec"]["containers"][0]
    control = deployments["turnout-control"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert control["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert deployments["turnout-control"]["spec"]["replicas"] == 2
    for container in (gateway, control):
        args = build_parser().parse_args(container["args"])  # a real `turnout` command
        assert args.command == container["args"][0]
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # one gateway worker uses at most one core (loadtest/README.md: ~8-10k calls/s per core)
    assert gateway["resources"]["limits"]["cpu"] == "1"

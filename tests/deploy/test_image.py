"""docker/Dockerfile and compose.yaml against their linters and schemas (no container engine
is needed): hadolint, the Compose Specification's JSON schema, and the rules the issue sets."""

import re
import subprocess
import sys
from pathlib import Path

from tests.deploy import compose

BIN = Path(sys.executable).parent
DOCKERFILE = compose.DOCKER / "Dockerfile"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_dockerfile_passes_hadolint():
    done = _run(str(BIN / "hadolint"), "--failure-threshold", "info", str(DOCKERFILE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_is_live():
    """The linter really checks: a Dockerfile with known faults fails it."""
    done = subprocess.run(
        [str(BIN / "hadolint"), "-"],
        input="FROM python:latest\nRUN cd /x && apt-get install foo\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.MULTILINE)
    assert [name for _, name in stages] == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "-slim" in re.search(r"PYTHON_IMAGE=(\S+)", text).group(1)  # type: ignore[union-attr]
    assert re.search(r"^USER 10001", runtime, re.MULTILINE)  # not root
    assert "apt-get" not in runtime and "gcc" not in runtime and "build-essential" not in runtime
    assert 'ENTRYPOINT ["turnout"]' in runtime and 'CMD ["gateway"]' in runtime
    assert (
        "HEALTHCHECK" in runtime
        and "TURNOUT_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz" in runtime
    )


def test_compose_file_is_valid_against_the_compose_specification():
    done = _run(
        str(BIN / "check-jsonschema"),
        "--builtin-schema",
        "vendor.compose-spec",
        str(compose.COMPOSE_FILE),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_layout_is_the_one_promised():
    services = compose.load()["services"]
    commands = {name: spec.get("command") for name, spec in services.items()}
    assert sorted(n for n, c in commands.items() if c == ["gateway"]) == ["gateway-1", "gateway-2"]
    assert sorted(n for n, c in commands.items() if c == ["control"]) == ["control-1", "control-2"]
    assert commands["simulator"][0] == "simulator"
    turnout = [n for n, s in services.items() if s.get("image") == "turnout:local"]
    assert set(turnout) == {
        "simulator",
        "control-1",
        "control-2",
        "setup",
        "gateway-1",
        "gateway-2",
    }
    for name in turnout:  # one image, built once from this repository
        assert services[name]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and "redis-data:/data" in redis["volumes"]
    for name in ("gateway-1", "gateway-2", "control-1", "control-2"):
        env = services[name]["environment"]
        assert env["TURNOUT_REDIS_URL"] == "redis://redis:6379/0"
        port = env.get("TURNOUT_PORT") or env["TURNOUT_ADMIN_PORT"]
        assert env["TURNOUT_HEALTHCHECK_URL"] == f"http://127.0.0.1:{port}/healthz"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"

"""Reading docker/compose.yaml the way `docker compose` does for the parts the tests run:
merge keys and anchors (YAML), `${VAR:-default}` interpolation, each service's command and
environment."""

import re
from pathlib import Path
from typing import Any

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"

_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(value: str, environ: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: environ.get(m.group(1)) or m.group(2) or "", value)


def load(environ: dict[str, str] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    env = environ or {}

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, env)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        return node

    result: dict[str, Any] = walk(document)
    return result


def service(document: dict[str, Any], name: str) -> tuple[list[str], dict[str, str]]:
    """The service's command (arguments after the image's `turnout` entrypoint) and environment."""
    spec = document["services"][name]
    environment = {key: str(value) for key, value in (spec.get("environment") or {}).items()}
    return list(spec["command"]), environment

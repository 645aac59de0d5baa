"""The benchmark's routes, written the way an operator writes them: `turnout control` (the admin
API) for the length of the seeding, `turnout apply -f registry.toml` and `turnout weights set`.

The benchmark never imports the control plane: it only runs the `turnout` command.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from loadtest.procs import Child, ChildFailed, free_port

BENCH_ROUTE = "bench"  # non-streaming, to the canned nginx upstream: r1/r2 at 90/10
STREAM_ROUTE = "stream"  # streaming, to the simulator: r1 at 100
PROMPTS = ("You are a terse assistant.", "You are a terse and friendly assistant.")

_REGISTRY = """
[providers.canned]
base_url = "{upstream_url}"

[providers.sim]
base_url = "{simulator_url}"

[prompts.bench-prompt]
system = "{system}"

[prompts.stream-prompt]
system = "You stream."

[models.bench-model]
provider = "canned"
upstream_model = "bench-model"
params = {{ temperature = 0.2 }}

[models.stream-model]
provider = "sim"
upstream_model = "bench-model"
params = {{ temperature = 0.2 }}

[routes.{bench}]
prompt = "bench-prompt"
model = "bench-model"
params = {{ max_tokens = 64 }}

[routes.{stream}]
prompt = "stream-prompt"
model = "stream-model"
params = {{ max_tokens = 64 }}
"""


def registry_text(upstream_url: str, simulator_url: str, system: str) -> str:
    return _REGISTRY.format(
        upstream_url=upstream_url,
        simulator_url=simulator_url,
        system=system,
        bench=BENCH_ROUTE,
        stream=STREAM_ROUTE,
    )


def _turnout(env: dict[str, str], *argv: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "turnout.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ChildFailed(f"turnout {argv[0]} failed: {(result.stderr or result.stdout)[-800:]}")


def seed_routes(
    workdir: Path, redis_url: str, upstream_url: str, simulator_url: str, cpu: int
) -> None:
    """Both routes: apply once per bench prompt (the second adds r2 at 0%), then 90/10."""
    workdir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    command = [sys.executable, "-m", "turnout.cli", "control", "--port", str(port)]
    control = Child(
        "turnout control",
        [*command, "--redis-url", redis_url, "--log-level", "warning"],
        cpu,
        workdir / "control.log",
        {**base, "TURNOUT_ADMIN_TOKENS": f"bench:admin:{token}"},
    )
    try:
        control.wait_port(port)
        cli = {
            **base,
            "TURNOUT_ADMIN_URL": f"http://127.0.0.1:{port}",
            "TURNOUT_ADMIN_TOKEN": token,
        }
        registry = workdir / "registry.toml"
        for system in PROMPTS:
            registry.write_text(registry_text(upstream_url, simulator_url, system))
            _turnout(cli, "apply", "-f", str(registry))
        reason = "benchmark split"
        _turnout(cli, "weights", "set", BENCH_ROUTE, "r1=90", "r2=10", "--reason", reason)
    finally:
        control.stop()

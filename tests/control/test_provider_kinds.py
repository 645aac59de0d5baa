"""Provider kinds and their settings through the admin API, `turnout lint` and `turnout apply`:
each kind accepted, its own rules enforced with a 400 naming the field, nothing half-written."""

import pytest

from tests.control.conftest import redis_contents
from tests.control.test_cli import Cli, lint


async def test_each_kind_is_accepted_and_listed(api):
    bodies = {
        "oai": {"base_url": "https://api.openai.com/v1"},
        "claude": {"base_url": "https://api.anthropic.com/v1", "kind": "anthropic"},
        "azure": {
            "base_url": "https://res.openai.azure.com",
            "kind": "azure_openai",
            "api_version": "2024-10-21",
            "api_key_env": "AZURE_KEY",
            "ca_bundle": "/etc/ssl/corp-ca.pem",
        },
    }
    for name, body in bodies.items():
        await api.ok("PUT", f"/admin/providers/{name}", body)
    listed = {p["name"]: p for p in await api.ok("GET", "/admin/providers", role="viewer")}
    assert {n: p["kind"] for n, p in listed.items()} == {
        "azure": "azure_openai",
        "claude": "anthropic",
        "oai": "openai",
    }
    assert listed["azure"]["api_version"] == "2024-10-21"
    assert listed["azure"]["ca_bundle"] == "/etc/ssl/corp-ca.pem"


@pytest.mark.parametrize(
    ("body", "field", "words", "code"),
    [
        ({"kind": "azure_openai"}, "api_version", "needs its api-version", "broken_rule"),
        (
            {"kind": "azure_openai", "api_version": "latest"},
            "api_version",
            "not an api-version like",
            "invalid_input",
        ),
        (
            {"kind": "anthropic", "api_version": "2024-10-21"},
            "api_version",
            "only an azure",
            "broken_rule",
        ),
        ({"ca_bundle": "certs/ca.pem"}, "ca_bundle", "absolute file path", "invalid_input"),
        ({"kind": "bedrock"}, "kind", "Invalid enum value", "invalid_input"),
    ],
)
async def test_kind_rules_are_a_400_with_nothing_written(api, redis, body, field, words, code):
    before = await redis_contents(redis)
    status, error = await api.error(
        "PUT", "/admin/providers/p", {"base_url": "https://x.example/v1", **body}
    )
    assert status == 400
    assert error["field"] == field and words in error["message"]
    assert error["code"] == code  # invalid_input only for what the OpenAPI schema states
    assert await redis_contents(redis) == before


REGISTRY = """
[providers.claude]
base_url = "https://api.anthropic.com/v1"
kind = "anthropic"
api_key_env = "ANTHROPIC_API_KEY"

[providers.azure]
base_url = "https://res.openai.azure.com"
kind = "azure_openai"
api_version = "2024-10-21"

[models.sonnet]
provider = "claude"
upstream_model = "claude-sonnet"

[models.gpt]
provider = "azure"
upstream_model = "gpt-4o-deployment"

[routes.bot]
model = "sonnet"
"""


async def test_lint_and_apply_accept_the_kinds(admin, api, tmp_path, capsys):
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY)
    code, out, _ = lint(capsys, path)
    assert code == 0 and "ok (2 providers" in out
    path.write_text(REGISTRY.replace('api_version = "2024-10-21"\n', ""))
    code, _, err = lint(capsys, path)
    assert code == 1 and "providers.azure.api_version: an azure_openai provider needs" in err

    path.write_text(REGISTRY)
    code, out, err = await Cli(admin, capsys)("apply", "-f", str(path))
    assert code == 0, err
    assert "created   provider claude" in out and "created   provider azure" in out
    kinds = {p["name"]: p["kind"] for p in await api.ok("GET", "/admin/providers")}
    assert kinds == {"claude": "anthropic", "azure": "azure_openai"}

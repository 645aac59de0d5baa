"""The operator CLI against a real admin API: aligned tables, --json, clear errors and exit codes,
`turnout apply` (idempotent, never moves weights) and `turnout lint` (offline)."""

import asyncio

import msgspec

from tests.conftest import Admin
from tests.control.conftest import redis_contents, seed_route
from turnout.cli import main


class Cli:
    def __init__(self, admin: Admin, capsys) -> None:
        self.admin = admin
        self.capsys = capsys

    async def __call__(self, *argv: str, role: str = "admin") -> tuple[int, str, str]:
        self.capsys.readouterr()
        flags = ["--admin-url", self.admin.url, "--token", Admin.token(role)]
        code = await asyncio.to_thread(main, [*argv, *flags])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


async def test_tables_json_and_exit_codes(admin, api, capsys):
    cli = Cli(admin, capsys)
    await seed_route(api, "http://127.0.0.1:9/v1")

    code, out, _ = await cli("routes", role="viewer")
    header, row = out.splitlines()
    assert code == 0 and header.split() == [
        "ROUTE",
        "REV",
        "STABLE",
        "WEIGHTS%",
        "STICKY",
        "PINNED",
        "RELEASES",
    ]
    assert row.index("r1=100") == header.index("WEIGHTS%")
    assert row.index("2", len("support")) == header.index("REV")

    code, out, _ = await cli("weights", "set", "support", "r1=95", "r2=5", "--reason", "canary")
    assert code == 0 and "revision 3" in out
    lines = out.splitlines()
    assert lines[2].split()[:3] == ["r1", "95", "stable"]
    assert lines[3].split()[:3] == ["r2", "5", "prompt"]
    assert lines[2].index("95") == lines[1].index("WEIGHT%")

    code, out, _ = await cli("route", "show", "support", "--json", role="viewer")
    assert code == 0 and msgspec.json.decode(out)["weights"] == {"r1": 95, "r2": 5}

    code, _, err = await cli("weights", "set", "support", "r1=95", "r2=4", "--reason", "x")
    assert code == 1 and "weights: must sum to exactly 100, got 99" in err
    code, _, err = await cli("weights", "set", "support", "r1=95", "r2=five", "--reason", "x")
    assert code == 1 and "weights.r2: must be a number" in err
    code, _, err = await cli(
        "weights", "set", "support", "r1=100", "--expected-revision", "2", "--reason", "x"
    )
    assert code == 1 and "is at revision 3, not 2" in err
    code, _, err = await cli("rollback", "support", "--reason", "x", role="viewer")
    assert code == 3 and "needs operator" in err
    code, _, err = await cli("route", "show", "nowhere")
    assert code == 1 and "route 'nowhere' does not exist" in err

    code, out, _ = await cli(
        "release",
        "create",
        "support",
        "--model",
        "sim-chat@1",
        "--prompt",
        "support@1",
        "--param",
        "temperature=0",
        "--artifact",
        "index=v7",
        "--note",
        "cold",
    )
    assert code == 0 and "created r3 (change: several) at 0%" in out
    route = await api.ok("GET", "/admin/routes/support")
    assert route["releases"][2]["params"] == {"temperature": 0}
    assert route["releases"][2]["artifacts"] == {"index": "v7"}

    code, out, _ = await cli("promote", "support", "r2", "--reason", "good", role="operator")
    assert code == 0 and "stable r2" in out
    code, out, _ = await cli("pin", "support", "--reason", "incident", role="operator")
    assert code == 0 and "pinned yes" in out
    code, out, _ = await cli(
        "rollback", "support", "--to", "r1", "--reason", "bad", role="operator"
    )
    assert code == 0 and "stable r1" in out and "pinned yes" in out
    code, out, _ = await cli("unpin", "support", "--reason", "over", role="operator")
    assert code == 0 and "pinned no" in out
    code, out, _ = await cli("resolve", "support", "user-1", role="viewer")
    assert code == 0 and "-> r1" in out

    code, out, _ = await cli("audit", "--route", "support", "--limit", "5", role="viewer")
    rows = out.splitlines()[1:]
    assert code == 0 and len(rows) == 5
    assert [r.split()[3:5] for r in rows] == [
        ["release.create", "alice"],
        ["route.promote", "olga"],
        ["route.pin", "olga"],
        ["route.rollback", "olga"],
        ["route.unpin", "olga"],
    ]
    assert "r2=100 -> r1=100; stable r2 -> r1" in rows[3] and rows[3].endswith("bad")


async def test_unreachable_and_missing_token(tmp_path, capsys):
    code = await asyncio.to_thread(
        main, ["routes", "--admin-url", "http://127.0.0.1:9", "--data-dir", str(tmp_path)]
    )
    assert code == 4 and "cannot reach the admin API" in capsys.readouterr().err


async def test_the_cli_finds_the_token_turnout_up_stored(admin, api, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TURNOUT_ADMIN_TOKEN", raising=False)
    await seed_route(api, "http://127.0.0.1:9/v1")
    argv = ["routes", "--admin-url", admin.url, "--data-dir", str(tmp_path)]
    assert await asyncio.to_thread(main, argv) == 3
    err = capsys.readouterr().err
    looked = f"looked at --token, TURNOUT_ADMIN_TOKEN and {tmp_path.resolve() / 'admin-token'}"
    assert "no admin token found" in err and looked in err
    (tmp_path / "admin-token").write_text(Admin.token("viewer") + "\n")
    assert await asyncio.to_thread(main, argv) == 0
    assert "support" in capsys.readouterr().out


async def test_a_wrong_token_is_named_by_its_source_not_told_to_pass_one(
    admin, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("TURNOUT_ADMIN_TOKEN", raising=False)
    base = ["routes", "--admin-url", admin.url, "--data-dir", str(tmp_path)]
    assert await asyncio.to_thread(main, [*base, "--token", "not-a-known-token-xx"]) == 3
    err = capsys.readouterr().err
    assert "invalid token (HTTP 401)" in err
    assert "does not accept the token from --token" in err and "pass --token" not in err

    monkeypatch.setenv("TURNOUT_ADMIN_TOKEN", "another-unknown-token")
    assert await asyncio.to_thread(main, base) == 3
    assert "the token from TURNOUT_ADMIN_TOKEN" in capsys.readouterr().err

    monkeypatch.delenv("TURNOUT_ADMIN_TOKEN")
    (tmp_path / "admin-token").write_text("stale-token-of-an-old-demo\n")
    assert await asyncio.to_thread(main, base) == 3
    assert f"the token from {tmp_path.resolve() / 'admin-token'}" in capsys.readouterr().err


REGISTRY = """
[providers.sim]
base_url = "{url}"
api_key_env = "SIM_API_KEY"

[prompts.support]
system = "You help the {{{{team}}}} team."
variables = ["team"]
note = "first"

[models.chat]
provider = "sim"
upstream_model = "sim-chat"
params = {{ temperature = 0.2 }}
input_usd_per_mtok = 0.5

[routes.support-bot]
prompt = "support"
model = "chat"
artifacts = {{ index = "v1" }}
"""


async def test_apply_twice_changes_nothing_the_second_time(admin, api, redis, tmp_path, capsys):
    cli = Cli(admin, capsys)
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY.format(url="http://127.0.0.1:9/v1"))

    code, out, err = await cli("apply", "-f", str(registry))
    assert code == 0, err
    assert "created   provider sim" in out
    assert "created   prompt   support@1" in out and "created   route    support-bot" in out
    assert out.splitlines()[-1] == "4 change(s)"
    route = await api.ok("GET", "/admin/routes/support-bot")
    assert route["releases"][0]["prompt"]["variables"] == ["team"]
    assert route["releases"][0]["artifacts"] == {"index": "v1"}

    before = await redis_contents(redis)
    code, out, _ = await cli("apply", "-f", str(registry))
    assert code == 0 and out.strip() == "no changes: the registry matches the file"
    assert await redis_contents(redis) == before

    body = {"weights": {"r1": 100}, "expected_revision": route["revision"], "reason": "live"}
    await api.ok("PUT", "/admin/routes/support-bot/weights", body)
    registry.write_text(
        REGISTRY.format(url="http://127.0.0.1:9/v1")
        .replace("first", "second")
        .replace("the {{team}} team.", "the {{team}} team, briefly.")
    )
    code, out, _ = await cli("apply", "-f", str(registry), "--json")
    changes = {(c["kind"], c["name"], c["action"]) for c in msgspec.json.decode(out)}
    assert ("prompt", "support@2", "created") in changes
    assert ("release", "support-bot/r2", "created") in changes
    assert ("model", "chat@1", "unchanged") in changes
    after = await api.ok("GET", "/admin/routes/support-bot")
    assert after["weights"] == {"r1": 100, "r2": 0} and after["stable"] == "r1"
    assert after["releases"][1]["change_type"] == "prompt"


LINT_BAD = """
[providers.sim]
base_url = "http://127.0.0.1:9/v1"

[prompts.support]
system = "Hi {{name}}, about {{product}}."
variables = ["name"]

[models.chat]
provider = "sim"
upstream_model = "sim-chat"

[routes.bot]
prompt = "support"
model = "gpt"
"""


def lint(capsys, path) -> tuple[int, str, str]:
    """`turnout lint` is offline: no admin API, no Redis."""
    code = main(["lint", "-f", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_lint_names_each_problem(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(LINT_BAD)
    code, _, err = lint(capsys, bad)
    assert code == 1
    undefined = "the template uses {{product}}, which is not declared"
    assert f"{bad}: prompts.support.variables: {undefined}" in err
    assert f"{bad}: routes.bot.model: model 'gpt' is not defined in [models]" in err
    assert err.strip().endswith("2 problem(s)")

    good = tmp_path / "good.toml"
    good.write_text(LINT_BAD.replace('variables = ["name"]', "").replace('"gpt"', '"chat"'))
    code, out, _ = lint(capsys, good)
    assert code == 0 and "ok (1 providers, 1 prompts, 1 models, 1 routes)" in out
    code, _, err = lint(capsys, tmp_path / "missing.toml")
    assert code == 2 and "cannot read" in err


def test_lint_reports_schema_errors_and_bad_toml(tmp_path, capsys):
    path = tmp_path / "r.toml"
    path.write_text('[models.x]\nprovider = "p"\nupstream_model = 5\ncolour = 1\n[what]\n')
    code, _, err = lint(capsys, path)
    assert code == 1
    assert "what: unknown section" in err
    assert "models.x" in err
    path.write_text("[models.x\n")
    code, _, err = lint(capsys, path)
    assert code == 1 and "not valid TOML" in err


async def test_the_cli_decodes_answers_into_the_api_types(tmp_path, capsys):
    """An answer that is not the API's shape (another version, another server) is one clear
    line and exit 4, not a KeyError from deep in a table."""
    from aiohttp import web

    from tests.conftest import LoopbackApp

    async def routes(_request: web.Request) -> web.Response:
        return web.json_response([{"name": "support", "revision": "three"}])

    app = web.Application()
    app.router.add_get("/admin/routes", routes)
    server = await LoopbackApp.serve(web.AppRunner(app))
    try:
        argv = ["routes", "--admin-url", server.url, "--token", "x" * 20]
        assert await asyncio.to_thread(main, argv) == 4
    finally:
        await server.stop()
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"turnout: the admin API at {server.url} answered GET /admin/routes")
    assert "Expected `int`, got `str` - at `$[0].revision`" in err and "\n" not in err

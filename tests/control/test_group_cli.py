"""`turnout group …` verbs decode the admin API's answers as its own types and print readable
lines, one test per verb, against the real control server on a real Redis."""

import re

import msgspec
import pytest

from tests.control.conftest import seed_route
from tests.control.test_cli import Cli

ROUTES = ("helper", "support")
START = ("group", "rollout", "start", "team", "--release", "helper=r2", "--release",
         "support=r2", "--steps", "10,100", "--min-bake", "5m", "--guard", "thumbs_down_rate",
         "--skip-gate", "--reason", "new prompts")  # fmt: skip


@pytest.fixture
async def cli(admin, api, capsys) -> Cli:
    for route in ROUTES:
        await seed_route(api, "http://127.0.0.1:9/v1", route)
    await api.ok("PUT", "/admin/groups/team", {"routes": list(ROUTES), "reason": "together"})
    return Cli(admin, capsys)


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()]


async def test_group_set(admin, api, capsys):
    for route in ROUTES:
        await seed_route(api, "http://127.0.0.1:9/v1", route)
    cli = Cli(admin, capsys)
    code, out, _ = await cli("group", "set", "team", "--routes", "helper,support", "-m", "x")
    assert code == 0
    assert rows(out) == [
        ["group", "team:", "2", "route(s)"],
        ["ROUTE", "REV", "STABLE", "WEIGHTS%"],
        ["helper", "3", "r1", "r1=100"],  # created, a release added, moved into the group
        ["support", "3", "r1", "r1=100"],
    ]
    code, out, _ = await cli(
        "group", "set", "team", "--routes", "helper,support", "-m", "x", "--json"
    )
    assert code == 0 and msgspec.json.decode(out)["group"] == "team"


async def test_group_show(cli):
    code, out, _ = await cli("group", "show", "team", role="viewer")
    assert code == 0 and out.splitlines()[0] == "group team: 2 route(s)"
    assert [r[0] for r in rows(out)[2:]] == list(ROUTES)


async def test_group_change(cli, api):
    code, out, _ = await cli(
        "group", "change", "team", "--release", "helper=r2", "--release", "support=r2",
        "--percent", "12.5", "--reason", "try", role="operator",
    )  # fmt: skip
    assert code == 0
    assert re.fullmatch(r"change set [0-9a-f]{12} \(flip\): helper@4 support@4\n", out), out
    await api.ok("PUT", "/admin/freeze", {"reason": "close", "name": "f", "route": "support"})
    code, _, err = await cli(
        "group", "change", "team", "--action", "rollback", "--reason", "undo", "--emergency",
        role="operator",
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = await cli("group", "show", "team", role="viewer")
    assert [r[3] for r in rows(out)[2:]] == ["r1=100", "r1=100"]
    assert len(await api.ok("GET", "/admin/routes/helper/reviews")) == 1


async def test_group_rollout_start(cli):
    code, out, err = await cli(*START, role="operator")
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(r"group rollout [0-9a-f]{12} of team \(prompt change, [^)]+\)", lines[0])
    assert lines[1] == "status running: started; eval gate skipped: new prompts"
    assert lines[2].startswith("step 1/2: every route at 10%  [10% → 100%]  canary 0 / stable 0")
    assert lines[3].startswith("next decision: ")
    assert lines[4].split() == ["ROUTE", "CANDIDATE", "STABLE", "CANARY/STABLE", "SPLIT"]
    assert [line.split() for line in lines[5:7]] == [
        ["helper", "r2", "r1", "0/0", "-"],
        ["support", "r2", "r1", "0/0", "-"],
    ]
    assert lines[7].split()[:2] == ["guard", "verdict"]
    assert lines[8].split() == ["thumbs_down_rate", "-", "-", "-", "-", lines[8].split()[-1]]


async def test_group_rollout_status(cli):
    await cli(*START, role="operator")
    code, out, _ = await cli("group", "rollout", "status", "team", role="viewer")
    assert (
        code == 0
        and out.splitlines()[1] == "status running: started; eval gate skipped: new prompts"
    )
    code, out, _ = await cli("group", "rollout", "status", "team", "--json", role="viewer")
    view = msgspec.json.decode(out)
    assert view["rollout"]["group"] == "team" and len(view["rollout"]["members"]) == 2


async def test_group_rollout_pause_and_resume(cli):
    await cli(*START, role="operator")
    code, out, _ = await cli("group", "rollout", "pause", "team", "-m", "look", role="operator")
    assert code == 0 and out.splitlines()[1] == "status paused: look"
    code, out, _ = await cli("group", "rollout", "resume", "team", "-m", "go", role="operator")
    assert code == 0 and out.splitlines()[1] == "status running: go"


async def test_group_rollout_promote(cli):
    await cli(*START, role="operator")
    code, out, _ = await cli("group", "rollout", "promote", "team", "-m", "ship", role="operator")
    lines = out.splitlines()
    assert code == 0 and lines[1] == "status completed: ship"
    assert not lines[3].startswith("next decision")  # no progress once it ended
    code, out, _ = await cli("group", "show", "team", role="viewer")
    assert [r[2:] for r in rows(out)[2:]] == [["r2", "r2=100"], ["r2", "r2=100"]]


async def test_group_rollout_abort(cli):
    await cli(*START, role="operator")
    code, out, _ = await cli("group", "rollout", "abort", "team", "-m", "stop", role="operator")
    assert code == 0 and out.splitlines()[1] == "status aborted: stop"
    code, _, err = await cli("group", "rollout", "abort", "team", "-m", "again", role="operator")
    assert code != 0 and "has ended (aborted)" in err

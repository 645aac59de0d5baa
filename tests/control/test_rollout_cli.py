"""`turnout rollout …` against a real admin API: start, status (plain, --json, --watch), the
operator verbs, and a refused start's exit code and message."""

import io

import msgspec
from rich.console import Console

from control.cli.rollout import render
from control.rollout.model import RolloutView
from tests.control.conftest import seed_route
from tests.control.test_cli import Cli


async def test_rollout_verbs_from_the_shell(admin, api, capsys):
    cli = Cli(admin, capsys)
    await seed_route(api, "http://127.0.0.1:9/v1")
    code, out, err = await cli(
        "rollout", "start", "support", "r2", "--steps", "5,50,100", "--min-bake", "2m",
        "--guard", "error_rate:margin=0.03,hard_ceiling=0.2", "--guard", "thumbs_down_rate",
        "--skip-gate", "--reason", "new prompt", role="operator",
    )  # fmt: skip
    assert code == 0, err
    assert "rollout of r2 on support (stable r1, prompt change" in out
    assert "step 1/3 at 5%" in out
    assert "error_rate" in out and "thumbs_down_rate" in out
    route = await api.ok("GET", "/admin/routes/support")
    assert route["weights"] == {"r1": 95, "r2": 5}
    assert route["rollout"]["min_bake_s"] == 120
    assert route["rollout"]["guards"][0]["hard_ceiling"] == 0.2

    code, out, _ = await cli("rollout", "status", "support", "--json", role="viewer")
    view = msgspec.json.decode(out)
    assert code == 0 and view["rollout"]["status"] == "running"
    assert 110 < view["progress"]["bake_remaining_s"] <= 120  # baking from the start

    code, out, _ = await cli("rollout", "pause", "support", "-m", "lunch", role="operator")
    assert code == 0 and "status paused: lunch" in out
    code, out, _ = await cli("rollout", "resume", "support", "-m", "back", role="operator")
    assert code == 0 and "status running: back" in out
    code, out, err = await cli(
        "rollout", "start", "support", "r2", "--skip-gate", "-m", "again", role="operator"
    )
    assert code == 1 and "already has a rollout" in err
    code, out, _ = await cli("rollout", "abort", "support", "-m", "no", role="operator")
    assert code == 0 and "status aborted: no" in out
    route = await api.ok("GET", "/admin/routes/support")
    assert route["weights"] == {"r1": 100, "r2": 0}

    code, out, _ = await cli("rollout", "status", "support", "--watch", role="viewer")
    assert code == 0  # an ended rollout: one frame, then done
    code, out, _ = await cli("rollout", "status", "support", "--json", role="viewer")
    console = Console(file=io.StringIO(), width=120)
    console.print(render(msgspec.json.decode(out, type=RolloutView)))
    drawn = console.file.getvalue()
    assert "status aborted" in drawn and "thumbs_down_rate" in drawn

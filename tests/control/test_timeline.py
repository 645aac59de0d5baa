"""The postmortem timeline of a scripted incident (a bad release on a canary, an automatic
rollback by rule, a freeze, an emergency rollback with the kill switch, its acknowledgement)
against a golden Markdown file. Times are normalised; everything else must match exactly.
Set TURNOUT_UPDATE_GOLDEN=1 to rewrite the file after a deliberate change."""

import asyncio
import os
import re
import time
from pathlib import Path

import msgspec

from control.grouprollout import record
from control.grouprollout import storage as group_storage
from control.grouprollout.tick import step_state
from control.rollout.evidence import Evidence
from control.rollout.model import Srm
from control.routes import transitions
from control.routes.views import read
from control.store import Store
from simulator.behaviour import Behaviour
from tests.conftest import wait_for
from tests.control.conftest import seed_route
from tests.control.test_cli import Cli

GOLDEN = Path(__file__).parent / "golden" / "incident_timeline.md"
ROUTE = "/admin/routes/shop"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_ID = re.compile(r"\b\d{13}-\d+\b")  # audit entry (and review item) ids


def normalise(markdown: str) -> str:
    return _ID.sub("<id>", _TIME.sub("<time>", markdown))


async def delivered(api, count):
    async def enough() -> bool:
        found = await api.ok("GET", "/admin/webhook-deliveries?status=delivered")
        return len(found) >= count

    await wait_for(enough, timeout_s=10, step_s=0.02)


async def test_incident_timeline_matches_the_golden_file(
    fast_api,
    receiver,
    redis,
    redis_server,
    simulator,
    gateway_factory,
    http,
    capsys,
):
    api = fast_api
    if time.time() % 60 > 50:  # keep the incident's traffic inside one minute
        await asyncio.sleep(61 - time.time() % 60)
    _, url = receiver
    hook = {"url": url, "secret_env": "HOOK_SECRET", "events": ["weights.changed", "review.needed"]}
    await api.ok("PUT", "/admin/webhooks/ops", hook)
    await asyncio.sleep(0.05)

    await api.ok("PUT", "/admin/providers/sim", {"base_url": simulator.url})
    for name in ("good", "bad"):
        body = {"provider": "sim", "upstream_model": f"sim-{name}", "output_usd_per_mtok": 10.0}
        await api.ok("POST", f"/admin/models/{name}/versions", body)
    route = {"name": "shop", "release": {"model": "good@1", "note": "launch"}}
    await api.ok("POST", "/admin/routes", {**route, "reason": "launch"})
    await api.ok("POST", f"{ROUTE}/releases", {"model": "bad@1", "note": "cheaper model"})
    body = {"weights": {"r1": 70, "r2": 30}, "expected_revision": 2, "reason": "canary of r2"}
    await api.ok("PUT", f"{ROUTE}/weights", body, role="operator")
    await delivered(api, 1)
    simulator.state.behaviours["sim-bad"] = Behaviour(error_every=3, error_status=500)

    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.1)
    await wait_for(lambda: "shop" in gateway.context.holder.table.routes, timeout_s=3)
    await wait_for(lambda: gateway.context.holder.table.routes["shop"].revision == 3)
    served = {"r1": [0, 0, 0], "r2": [0, 0, 0]}  # calls, errors, thumbs-down
    for index in range(90):  # one after another: which calls fail is deterministic
        body = {"model": "shop", "messages": [{"role": "user", "content": "hi"}]}
        body["user"] = f"customer-{index % 30}"
        async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
            await response.read()
            release = response.headers["X-Turnout-Release"]
            served[release][0] += 1
            served[release][1] += response.status != 200
            if response.status == 200 and (release == "r2" or index % 10 == 0):
                feedback = {"call_id": response.headers["X-Turnout-Call-Id"], "value": "down"}
                async with http.post(f"{gateway.url}/v1/feedback", json=feedback) as answer:
                    assert answer.status == 202
                served[release][2] += 1

    async def flushed() -> bool:
        found = await api.ok("GET", f"{ROUTE}/releases/r2/impact?since=10m")
        figures = found["release_figures"]
        return [figures["calls"], figures["errors"], figures["thumbs_down"]] == served["r2"]

    await wait_for(flushed, timeout_s=5, step_s=0.05)

    # The rollout controller's decision, as it commits one: audited with its rule and evidence.
    store = Store(redis)
    data = await read(store, "shop")
    evidence = {
        "rule": "error_rate",
        "canary_errors": served["r2"][1],
        "canary_calls": served["r2"][0],
        "stable_errors": served["r1"][1],
        "stable_calls": served["r1"][0],
    }
    outcome = await store.commit_route(
        data.state.revision,
        transitions.rollback(data.state, None, data.releases),
        action="rollout.rolled_back",
        actor="rollout-controller",
        reason="r2 error rate above stable's",
        evidence=msgspec.json.encode(evidence),
    )
    assert outcome.status == "ok"
    await delivered(api, 2)
    await api.ok(
        "PUT", "/admin/freeze", {"reason": "incident 7 under review", "name": "incident-7"}
    )
    await asyncio.sleep(0.01)  # two streams: keep their entries out of one millisecond
    emergency = {"reason": "stop pinned r2 evals too", "emergency": True}
    await api.ok("POST", f"{ROUTE}/rollback", emergency, role="operator")
    await delivered(api, 4)
    review = (await api.ok("GET", ROUTE))["open_reviews"][0]
    note = {"note": "r2 traffic stopped; eval pins checked"}
    await api.ok("POST", f"{ROUTE}/reviews/{review['id']}/ack", note)

    cli = Cli(api.admin, capsys)
    code, markdown, _ = await cli("timeline", "shop", "--since", "10m", role="viewer")
    assert code == 0
    found = normalise(markdown)
    if os.environ.get("TURNOUT_UPDATE_GOLDEN"):
        GOLDEN.write_text(found)
    assert found == GOLDEN.read_text()
    code, raw, _ = await cli("timeline", "shop", "--format", "json", role="viewer")
    story = msgspec.json.decode(raw)
    assert [m["action"] for m in story["moments"] if m["source"] == "audit"] == [
        "route.create",
        "release.create",
        "route.flip",
        "rollout.rolled_back",
        "route.rollback",
        "review.ack",
    ]


async def test_group_and_route_rollout_decisions_show_their_rollout_and_evidence(
    api, redis, capsys
):
    """A group rollout's entries on a member route are rollout decisions: the group rollout and
    its step, and the guards' verdicts, the route's split check and the counts as evidence; a
    route rollout's the same way. The first automated decision is the controller's."""
    for route in ("helper", "support", "solo"):
        await seed_route(api, "http://127.0.0.1:9/v1", route)
    await api.ok("PUT", "/admin/groups/team", {"routes": ["helper", "support"], "reason": "x"})
    body = {"releases": {"helper": "r2", "support": "r2"}, "reason": "new prompts",
            "steps": [10, 50, 100], "min_bake_s": 600, "skip_gate": True}  # fmt: skip
    started = await api.ok("POST", "/admin/groups/team/rollouts", body, role="operator")
    solo = {"release": "r2", "reason": "alone", "steps": [10, 100], "min_bake_s": 600,
            "skip_gate": True}  # fmt: skip
    await api.ok("POST", "/admin/routes/solo/rollouts", solo, role="operator")

    # The controller's step, as its tick writes it: judged on a look, every member moved.
    store = Store(redis)
    rollout = await group_storage.read(store, "team")
    assert rollout is not None
    look = Evidence(
        metric="thumbs_down_rate", verdict="pass", n_canary=400, n_baseline=1600,
        estimate=0.01, lower=-0.03, upper=0.04, statistic=1.0, alpha=0.025, detail="within",
    )  # fmt: skip
    split = Srm(requests={"r1": 800, "r2": 200}, requests_p=0.5, keys={}, keys_p=None,
                mismatch=False)  # fmt: skip
    members = [
        msgspec.structs.replace(m, srm=split, canary_requests=200, baseline_requests=800)
        for m in rollout.members
    ]
    judged = msgspec.structs.replace(
        rollout, evidence=[look], members=members, canary_requests=400, baseline_requests=1600
    )
    moves = {}
    for member in rollout.members:
        state = (await read(store, member.route)).state
        moves[member.route] = (state.revision, step_state(state, member, 50))
    after = record.with_status(
        judged, time.time(), "running", "every guard passed", action="step", actor="controller",
        step=record.new_step(rollout, 1, time.time(), judging=True),
    )  # fmt: skip
    audit = ("group_rollout.step", "controller", "step 2/3: every route at 50%")
    outcome = await group_storage.write(
        store, rollout.version, after, audit=audit, states=moves, fence=1, judged=judged
    )
    assert outcome.status == "ok"

    cli = Cli(api.admin, capsys)
    code, markdown, _ = await cli("timeline", "support", "--since", "10m", role="viewer")
    assert code == 0
    rows = {line.split(" | ")[2]: line.split(" | ") for line in markdown.splitlines()
            if line.startswith("| ") and " | audit | " in line}  # fmt: skip
    gid = started["rollout"]["id"]
    start = rows["group_rollout.start"]
    assert start[4] == f"group rollout {gid} of team: r2 over r1, step 1 at 10%: r1=100% -> " \
        "r1=90% r2=10%"  # fmt: skip
    assert start[6] == "no look yet; combined canary/stable calls 0/0; this route 0/0 |"
    step = rows["group_rollout.step"]
    assert step[3] == "controller"
    assert step[4] == f"group rollout {gid} of team: r2 over r1, step 1 at 10%: r1=90% r2=10% " \
        "-> r1=50% r2=50%"  # fmt: skip
    evidence = (
        "thumbs_down_rate pass: +0.0100 in [-0.0300, +0.0400], n 400/1600; split ok; "
        "combined canary/stable calls 400/1600; this route 200/800"
    )
    assert step[6] == evidence + " |"
    assert f"by controller: {evidence}." in markdown  # the first automated decision
    assert "group_rollout={" not in markdown  # not a dump of the raw evidence

    code, markdown, _ = await cli("timeline", "solo", "--since", "10m", role="viewer")
    [line] = [x for x in markdown.splitlines() if " | rollout.start | " in x]
    assert " | rollout: r2 over r1, step 1 at 10%: r1=100% -> r1=90% r2=10% | " in line
    assert line.endswith(" | no look yet |")
    assert "First automated decision" not in markdown  # the operator's start is none

"""End to end on real Redis, the admin API, the gateway and the simulator: `turnout eval run`
stores a verdict per candidate; the worse candidate fails, the better one passes, with the
judge's release in the verdict; eval calls stay out of live telemetry; an interrupted run
resumes without re-sending what it finished."""

import asyncio
from pathlib import Path

import msgspec
import pytest

from tests.conftest import Admin, wait_for
from tests.control.eval_stack import load_answer_key, seed, write_dataset
from turnout.cli import main


@pytest.fixture
async def stack(redis_server, admin, api, gateway_factory, simulator, http):
    await seed(api, http, simulator.url, consistency=0.98)
    gateway = await gateway_factory(redis_server.url)
    await wait_for(lambda: "judge" in gateway.context.holder.table.routes)
    return gateway


async def _cli(capsys, admin: Admin, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    flags = ["--admin-url", admin.url, "--token", Admin.token("operator")]
    code = await asyncio.to_thread(main, [*argv, *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _eval(gateway, dataset: Path, cache: Path, candidate: str, *extra: str) -> list[str]:
    return [
        "eval", "run", "qa", "--candidate", candidate, "--dataset", str(dataset),
        "--judge-route", "judge", "--gateway-url", gateway.url, "--margin", "0.05",
        "--cache", str(cache), *extra,
    ]  # fmt: skip


async def test_worse_fails_better_passes_with_the_judge_named(
    stack, admin, api, simulator, http, tmp_path, capsys
):
    dataset = tmp_path / "cases.jsonl"
    await load_answer_key(http, simulator.url, write_dataset(dataset, 200))
    cache = tmp_path / "cache.jsonl"

    code, out, err = await _cli(capsys, admin, *_eval(stack, dataset, cache, "r2"))
    assert code == 1, err
    assert "**FAIL**" in out and "worse than the margin" in out
    assert "estimate 800 calls" in err
    worse = await api.ok("GET", "/admin/routes/qa/releases/r2/gate", role="viewer")
    assert worse["status"] == "fail" and worse["passing"] is False
    record = worse["record"]
    assert record["baseline"] == "r1" and record["cases"] == 200
    assert record["judge"] == {
        "route": "judge",
        "release": "r1",
        "prompt": "-",
        "model": "m-judge@1",
    }
    metrics = {m["name"]: m for m in record["verdict"]["metrics"]}
    assert set(metrics) == {"exact", "judge"}
    assert metrics["exact"]["estimate"] == pytest.approx(-0.2, abs=0.08)
    assert metrics["judge"]["kind"] == "ordinal"
    assert record["calls"] == 800 and record["cached"] == 0
    assert record["cost_usd"] > 0 and record["cost_estimate_usd"] > 0

    code, out, err = await _cli(capsys, admin, *_eval(stack, dataset, cache, "r3"))
    assert code == 0, out + err
    better = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert better["status"] == "pass" and better["passing"] is True
    assert better["record"]["cached"] == 400  # the baseline's answers and ratings were reused
    assert better["record"]["calls"] == 400

    # eval calls never reach the live per-release telemetry; they have their own counter
    recorder = stack.context.recorder
    live = [s for (route, _), s in recorder.releases.items() if route == "qa"]
    assert sum(sum(s.outcomes.values()) for s in live) == 0
    evals = {key: sum(s.status_classes.values()) for key, s in recorder.evals.items()}
    assert evals[("qa", "r1")] == 200 and evals[("qa", "r2")] == 200
    assert evals[("judge", "r1")] == 600
    async with http.get(f"{stack.url}/metrics") as response:
        metrics_text = await response.text()
    assert 'turnout_eval_requests_total{release="r3",route="qa",status_class="2xx"} 200.0' in (
        metrics_text
    )

    code, out, _ = await _cli(capsys, admin, "route", "show", "qa")
    assert code == 0 and "eval gate: r2=fail r3=pass" in out
    code, out, _ = await _cli(capsys, admin, "release", "show", "qa", "r3")
    assert code == 0 and "gate: pass" in out and "judge r1 (prompt -, model m-judge@1)" in out

    # `turnout rollout start` needs a passing, fresh verdict, unless --skip-gate with a reason
    code, _, err = await _cli(capsys, admin, "rollout", "start", "qa", "r2", "--reason", "try")
    assert code == 1 and "eval gate: r2 did not pass (fail)" in err and "409" in err
    code, out, err = await _cli(capsys, admin, "rollout", "start", "qa", "r3", "--reason", "good")
    assert code == 0, err
    started = await api.ok("GET", "/admin/routes/qa/rollouts", role="viewer")
    assert started["rollout"]["release"] == "r3" and started["rollout"]["status"] == "running"
    code, _, err = await _cli(capsys, admin, "rollout", "abort", "qa", "--reason", "next test")
    assert code == 0, err
    code, _, err = await _cli(
        capsys,
        admin,
        "rollout",
        "start",
        "qa",
        "r2",
        "--skip-gate",
        "--reason",
        "hotfix, eval later",
    )
    assert code == 0, err
    audit = await api.ok("GET", "/admin/audit?route=qa", role="viewer")
    assert any(
        e["action"] == "rollout.start"
        and "[eval gate skipped]" in e["reason"]
        and "hotfix, eval later" in e["reason"]
        for e in audit
    )
    await api.ok("POST", "/admin/routes/qa/rollouts/abort", {"reason": "done"}, role="operator")
    await api.ok("POST", "/admin/routes/qa/releases", {"model": "m-base@1"}, role="operator")
    status, body = await api.call(
        "POST", "/admin/routes/qa/rollouts", {"release": "r4", "reason": "x"}, role="operator"
    )
    assert status == 409 and "r4 has no verdict" in body["error"]["message"]

    # the baseline stops being stable: both verdicts go stale
    await api.ok("POST", "/admin/routes/qa/promote", {"release": "r3", "reason": "test"})
    stale = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert stale["status"] == "stale" and stale["passing"] is False
    assert "baseline r1 is no longer stable (stable is r3)" in stale["stale"][0]
    await api.ok("POST", "/admin/routes/qa/rollback", {"reason": "back", "to": "r1"})
    status, body = await api.call(
        "POST", "/admin/routes/qa/rollouts", {"release": "r2", "reason": "x"}, role="operator"
    )
    assert status == 409


async def test_judge_and_dataset_changes_make_a_verdict_stale(
    stack, admin, api, simulator, http, tmp_path, capsys
):
    dataset = tmp_path / "cases.jsonl"
    await load_answer_key(http, simulator.url, write_dataset(dataset, 200))
    cache = tmp_path / "cache.jsonl"
    code, _, err = await _cli(capsys, admin, *_eval(stack, dataset, cache, "r3"))
    assert code == 0, err
    # another judge release becomes the judge route's stable one
    await api.ok("POST", "/admin/routes/judge/releases", {"model": "m-base@1"}, role="operator")
    await api.ok("POST", "/admin/routes/judge/promote", {"release": "r2", "reason": "new judge"})
    gate = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert gate["status"] == "stale"
    assert "the judge changed: route judge serves r2, the verdict used r1" in gate["stale"]
    await api.ok("POST", "/admin/routes/judge/rollback", {"reason": "back", "to": "r1"})
    gate = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert gate["status"] == "pass"
    # a verdict on another dataset becomes the route's current set
    other = tmp_path / "other.jsonl"
    write_dataset(other, 30, judged=False)
    code, out, _ = await _cli(capsys, admin, *_eval(stack, other, cache, "r2"), "--no-post")
    assert code == 1 and ("**INSUFFICIENT**" in out or "**FAIL**" in out)
    gate = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert gate["status"] == "pass"  # --no-post stored nothing
    code, _, _ = await _cli(capsys, admin, *_eval(stack, other, cache, "r2"))
    gate = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert gate["status"] == "stale" and "eval dataset changed" in gate["stale"][0]


async def test_an_interrupted_run_resumes_without_resending_finished_cases(
    stack, admin, api, simulator, http, tmp_path, capsys
):
    dataset = tmp_path / "cases.jsonl"
    await load_answer_key(http, simulator.url, write_dataset(dataset, 40))
    cache = tmp_path / "cache.jsonl"
    base = simulator.url.removesuffix("/v1")
    broken = {"model": "m-better", "behaviour": {"status": 400}}
    async with http.post(f"{base}/_sim/behaviour", json=broken) as response:
        assert response.status == 200
    # one worker: baseline cases first, then the candidate's first call fails for good
    code, _, err = await _cli(
        capsys, admin, *_eval(stack, dataset, cache, "r3", "--concurrency", "1")
    )
    assert code == 4 and "HTTP 400" in err and "finished results are cached" in err
    gate = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert gate["status"] == "none"
    first = dict(simulator.state.calls)
    assert first["m-base"] == 40 and first["m-judge"] == 40 and first["m-better"] == 1

    fixed = {"model": "m-better", "behaviour": {}}
    async with http.post(f"{base}/_sim/behaviour", json=fixed) as response:
        assert response.status == 200
    code, _, err = await _cli(capsys, admin, *_eval(stack, dataset, cache, "r3"))
    assert code in (0, 1), err
    calls = simulator.state.calls
    assert calls["m-base"] == 40  # not one baseline case sent again
    assert calls["m-better"] == 1 + 40
    assert calls["m-judge"] == 80
    gate = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert gate["record"]["cached"] == 80 and gate["record"]["calls"] == 80
    tags = [r.headers.get("x-eval-case") for r in simulator.received()]
    assert all(tag for tag in tags)
    assert msgspec.json.decode(cache.read_bytes().splitlines()[0])["key"].startswith("answer|")


async def test_retries_on_429_and_5xx_then_a_twenty_case_set_is_insufficient(
    stack, admin, api, simulator, http, tmp_path, capsys
):
    dataset = tmp_path / "cases.jsonl"
    await load_answer_key(http, simulator.url, write_dataset(dataset, 20, judged=False))
    base = simulator.url.removesuffix("/v1")
    flaky = [
        {"model": "m-base", "behaviour": {"error_every": 3, "error_status": 503}},
        {"model": "m-better", "behaviour": {"error_every": 4, "error_status": 429}},
    ]
    for behaviour in flaky:
        async with http.post(f"{base}/_sim/behaviour", json=behaviour) as response:
            assert response.status == 200
    argv = _eval(
        stack, dataset, tmp_path / "cache.jsonl", "r3", "--samples", "2", "--backoff-s", "0.01"
    )
    code, out, err = await _cli(capsys, admin, *argv)
    assert code == 1, err
    gate = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    record = gate["record"]
    assert gate["status"] == "insufficient" and record["samples"] == 2
    metric = record["verdict"]["metrics"][0]
    assert metric["n"] == 20 and metric["n_needed"] > 20
    assert f"needs about {metric['n_needed']}" in record["verdict"]["reason"]
    assert "**INSUFFICIENT**" in out
    # 40 answers a release; every 3rd base call and every 4th candidate call failed (retried)
    calls = simulator.state.calls
    assert calls["m-base"] == _calls_for(40, every=3) == 59
    assert calls["m-better"] == _calls_for(40, every=4) == 53
    assert record["calls"] == calls["m-base"] + calls["m-better"]
    scores = record["scores"][0]
    assert len(scores["case_ids"]) == 20
    assert set(scores["baseline"]) <= {0.0, 0.5, 1.0}  # means over two samples


def _calls_for(successes: int, every: int) -> int:
    """Calls until `successes` answered when every `every`-th call fails."""
    calls = successes
    while calls - calls // every < successes:
        calls += 1
    return calls


async def test_an_unparsable_judgement_stops_the_run_with_a_clear_error(
    stack, admin, api, simulator, http, tmp_path, capsys
):
    dataset = tmp_path / "cases.jsonl"
    await load_answer_key(http, simulator.url, write_dataset(dataset, 10))
    base = simulator.url.removesuffix("/v1")
    garbage = {"model": "m-judge", "judge": True, "judge_garbage": 1.0}
    async with http.post(f"{base}/_sim/quality", json=garbage) as response:
        assert response.status == 200
    code, _, err = await _cli(capsys, admin, *_eval(stack, dataset, tmp_path / "c.jsonl", "r3"))
    assert code == 1
    assert "unusable judgement: judge reply has no 'Score: N'" in err
    gate = await api.ok("GET", "/admin/routes/qa/releases/r3/gate", role="viewer")
    assert gate["status"] == "none"


async def test_gate_api_roles_and_bad_input(stack, admin, api, simulator, http, tmp_path, capsys):
    dataset = tmp_path / "cases.jsonl"
    await load_answer_key(http, simulator.url, write_dataset(dataset, 30, judged=False))
    report = tmp_path / "report.md"
    argv = _eval(stack, dataset, tmp_path / "c.jsonl", "r3", "--no-post", "--json")
    _, out, _ = await _cli(capsys, admin, *argv, "--report", str(report))
    record = msgspec.json.decode(out)
    assert record["candidate"] == "r3" and "Eval gate: qa r3 vs r1" in report.read_text()
    path = "/admin/routes/qa/releases/r3/gate"
    status, _ = await api.call("PUT", path, record, role="viewer")
    assert status == 403
    status, body = await api.call(
        "PUT", "/admin/routes/qa/releases/r2/gate", record, role="operator"
    )
    assert status == 400 and body["error"]["field"] == "candidate"
    bad = {**record, "baseline": "r9", "candidate": "r3"}
    status, body = await api.call("PUT", path, bad, role="operator")
    assert status == 400 and "release 'r9' does not exist" in body["error"]["message"]
    status, body = await api.call("PUT", path, {**record, "dataset_hash": "md5:x"}, role="operator")
    assert status == 400 and body["error"]["field"] == "dataset_hash"
    status, body = await api.call("GET", "/admin/routes/qa/releases/r9/gate", role="viewer")
    assert status == 404
    assert (await api.ok("GET", path, role="viewer"))["status"] == "none"
    stored = await api.ok("PUT", path, record, role="operator")
    assert stored["record"]["actor"] == "olga" and stored["status"] == record["verdict"]["outcome"]
    assert await api.ok("GET", "/admin/routes/qa/gates", role="viewer") == {"r3": stored["status"]}


async def test_the_cli_names_bad_input_before_sending_anything(
    stack, admin, simulator, http, tmp_path, capsys
):
    dataset = tmp_path / "cases.jsonl"
    write_dataset(dataset, 5)
    cache = tmp_path / "c.jsonl"
    no_judge = [
        a for a in _eval(stack, dataset, cache, "r3") if a not in ("--judge-route", "judge")
    ]
    cases = [
        (_eval(stack, dataset, cache, "r3", "--margin", "0"), "--margin: Expected `float` > 0.0"),
        (_eval(stack, dataset, cache, "r9"), "--candidate: release 'r9' does not exist"),
        (_eval(stack, dataset, cache, "r1"), "--candidate r1 is the baseline"),
        (_eval(stack, dataset, cache, "r3", "--samples", "0"), "--samples and --concurrency"),
        (no_judge, "the dataset has judge scorers: pass --judge-route ROUTE"),
    ]
    for argv, message in cases:
        code, _, err = await _cli(capsys, admin, *argv)
        assert code == 1 and message in err, (argv, err)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "a", "messages": [], "expected": "x", "scorers": ["exact"]}\n{"id": 3}\n'
    )
    code, _, err = await _cli(capsys, admin, *_eval(stack, bad, cache, "r3"))
    assert code == 1 and "bad.jsonl line 2: Expected `str`, got `int` - at `$.id`" in err
    assert simulator.state.calls == {}
    assert not cache.exists()


async def test_time_outs_are_retried_and_any_case_id_travels(
    stack, admin, api, simulator, http, tmp_path, capsys
):
    dataset = tmp_path / "cases.jsonl"
    cases = [
        {"id": f"fråga {i}/ü#x", "messages": [{"role": "user", "content": f"q{i}"}],
         "expected": f"svar {i}", "scorers": ["exact"]}
        for i in range(12)
    ]  # fmt: skip
    dataset.write_bytes(b"\n".join(msgspec.json.encode(c) for c in cases))
    await load_answer_key(http, simulator.url, {c["id"]: c["expected"] for c in cases})
    base = simulator.url.removesuffix("/v1")
    slow = {"model": "m-base", "behaviour": {"latency_jitter_ms": 400}}
    async with http.post(f"{base}/_sim/behaviour", json=slow) as response:
        assert response.status == 200
    argv = _eval(stack, dataset, tmp_path / "c.jsonl", "r3")
    argv += ["--timeout-s", "0.2", "--retries", "12", "--backoff-s", "0.001", "--no-post", "--json"]
    code, out, err = await _cli(capsys, admin, *argv)
    record = msgspec.json.decode(out)
    calls = simulator.state.calls
    assert calls["m-base"] > 12  # about half the baseline calls timed out and were sent again
    assert record["calls"] == calls["m-base"] + calls["m-better"]
    scores = record["scores"][0]
    assert scores["case_ids"][0] == "fråga 0/ü#x"
    # the simulator found each case by its (percent-encoded) id: r1 answers 80% right, not 0%
    assert sum(scores["baseline"]) >= 6, (code, err)


async def test_only_pinned_calls_can_be_tagged_as_eval(stack, http):
    body = {"model": "qa", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(
        f"{stack.url}/v1/chat/completions", json=body, headers={"X-Turnout-Eval": "1"}
    ) as response:
        assert response.status == 200
    recorder = stack.context.recorder
    assert sum(recorder.releases[("qa", "r1")].outcomes.values()) == 1  # counted as live
    assert ("qa", "r1") not in recorder.evals
    pinned = {"X-Turnout-Eval": "1", "X-Turnout-Release": "r1"}
    async with http.post(f"{stack.url}/v1/chat/completions", json=body, headers=pinned) as r:
        assert r.status == 200
    assert sum(recorder.releases[("qa", "r1")].outcomes.values()) == 1
    assert sum(recorder.evals[("qa", "r1")].outcomes.values()) == 1

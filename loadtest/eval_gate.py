"""Figures for the eval gate: wall time, calls and cost of one `turnout eval run` against the
simulator, everything on loopback (embedded Redis, simulator and gateway in this process, the
admin API as a `turnout control` process; the CLI in a thread, as an operator would run it).
Like the benchmark, it never imports the control plane.

    .venv/bin/python -m loadtest.eval_gate --cases 500 --concurrency 8
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from gateway.app import build_app, make_runner
from gateway.settings import GatewaySettings
from simulator.server import SIM_STATE
from simulator.server import build_app as build_sim_app
from turnout.cli import main as cli_main
from turnout.embedded_redis import EmbeddedRedis

TOKEN = "figures-operator-token-0001"
ADMIN_TOKEN = "figures-admin-token-00001"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def _start_control(port: int, redis_url: str, tokens: str) -> subprocess.Popen[bytes]:
    """The admin API as an operator runs it: a `turnout control` process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    command = [sys.executable, "-m", "turnout.cli", "control", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--redis-url", redis_url, "--log-level", "warning"],
        env={**base, "TURNOUT_ADMIN_TOKENS": tokens},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


async def _admin_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"turnout control exited with status {process.returncode}")
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"turnout control did not answer at {url} in time")
            await asyncio.sleep(0.05)


async def _seed(http: aiohttp.ClientSession, admin: str, sim: str) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def call(method: str, path: str, body: Any) -> None:
        async with http.request(method, admin + path, json=body, headers=auth) as response:
            assert response.status in (200, 201), await response.text()

    await call("PUT", "/admin/providers/sim", {"base_url": f"{sim}/v1", "timeout_s": 10})
    prices = {"input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0}
    for model in ("m-base", "m-candidate", "m-judge"):
        body = {"provider": "sim", "upstream_model": model, **prices}
        await call("POST", f"/admin/models/{model}/versions", body)
    await call("POST", "/admin/routes", {"name": "qa", "release": {"model": "m-base@1"}})
    await call("POST", "/admin/routes/qa/releases", {"model": "m-candidate@1"})
    await call("POST", "/admin/routes", {"name": "judge", "release": {"model": "m-judge@1"}})
    for quality in (
        {"model": "m-base", "accuracy": 0.8, "consistency": 0.95},
        {"model": "m-candidate", "accuracy": 0.82, "consistency": 0.95},
        {"model": "m-judge", "judge": True},
    ):
        async with http.post(f"{sim}/_sim/quality", json=quality) as response:
            assert response.status == 200


def _dataset(path: Path, cases: int) -> dict[str, str]:
    key, lines = {}, []
    for i in range(cases):
        key[f"q{i}"] = f"the answer to question {i}"
        case = {
            "id": f"q{i}",
            "messages": [{"role": "user", "content": f"What is the answer to question {i}?"}],
            "expected": key[f"q{i}"],
            "scorers": ["exact", "judge"],
        }
        lines.append(msgspec.json.encode(case))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return key


async def figures(cases: int, concurrency: int, margin: float, latency_ms: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis = EmbeddedRedis(root / "redis", port=_port(), persist=False)
        redis.start()
        sim_port, gw_port, admin_port = _port(), _port(), _port()
        sim_app = build_sim_app()
        runners = [await _serve(sim_app, sim_port)]
        tokens = f"ops:operator:{TOKEN},root:admin:{ADMIN_TOKEN}"
        control = _start_control(admin_port, redis.url, tokens)
        gw_settings = msgspec.convert(
            {"port": gw_port, "redis_url": redis.url, "data_dir": str(root / "gw")},
            GatewaySettings,
        )
        gateway = make_runner(build_app(gw_settings))
        await gateway.setup()
        await web.TCPSite(gateway, "127.0.0.1", gw_port).start()
        runners.append(gateway)
        sim, admin = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{admin_port}"
        try:
            await _admin_up(admin, control)
            async with aiohttp.ClientSession() as http:
                await _seed(http, admin, sim)
                dataset = root / "cases.jsonl"
                answers = {"answers": _dataset(dataset, cases)}
                async with http.post(f"{sim}/_sim/answer_key", json=answers) as response:
                    assert response.status == 200
                slow = {"model": "*", "behaviour": {"latency_ms": latency_ms}}
                async with http.post(f"{sim}/_sim/behaviour", json=slow) as response:
                    assert response.status == 200
                await asyncio.sleep(1.0)  # the gateway picks the routes up (pub/sub)
                argv = [
                    "eval", "run", "qa", "--candidate", "r2", "--dataset", str(dataset),
                    "--judge-route", "judge", "--gateway-url", f"http://127.0.0.1:{gw_port}",
                    "--concurrency", str(concurrency), "--margin", str(margin),
                    "--cache", str(root / "cache.jsonl"), "--admin-url", admin, "--token", TOKEN,
                    "--report", str(root / "report.md"),
                ]  # fmt: skip
                started = time.perf_counter()
                code = await asyncio.to_thread(cli_main, argv)
                wall = time.perf_counter() - started
                calls = dict(sim_app[SIM_STATE].calls)
                path = f"{admin}/admin/routes/qa/releases/r2/gate"
                headers = {"Authorization": f"Bearer {TOKEN}"}
                async with http.get(path, headers=headers) as response:
                    record = (await response.json())["record"]
        finally:
            _stop(control)
            for runner in reversed(runners):
                await runner.cleanup()
            redis.stop()
    print(
        f"\nfigures: {cases} cases x 2 releases at concurrency {concurrency}, simulator latency "
        f"{latency_ms:g} ms: exit {code}, "
        f"wall {wall:.2f} s (dataset to stored verdict, bootstrap included), "
        f"{record['calls']} calls sent ({sum(calls.values())} received by the simulator: "
        f"{calls}), {record['calls'] / wall:.0f} calls/s; cost estimate "
        f"${record['cost_estimate_usd']:.4f}, actual ${record['cost_usd']:.4f}; "
        f"verdict {record['verdict']['outcome']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--margin", type=float, default=0.05)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="per simulated call")
    args = parser.parse_args()
    asyncio.run(figures(args.cases, args.concurrency, args.margin, args.latency_ms))


if __name__ == "__main__":
    main()

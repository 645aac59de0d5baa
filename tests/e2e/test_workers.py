"""`turnout gateway --workers N`: N processes share the port, each serving from its snapshot."""

import asyncio

import aiohttp
import pytest

from gateway.telemetry.calls import parse_call_id
from tests import builders
from tests.conftest import publish_route


@pytest.mark.slow
async def test_two_workers_share_the_port(redis, redis_server, simulator, gateway_processes):
    await publish_route(
        redis, simulator, builders.state("bot", {"r1": 100}), [builders.release("r1")]
    )
    gateway = await gateway_processes(redis_server.url, "--workers", "2")
    processes = set()
    body = {"model": "bot", "messages": [{"role": "user", "content": "x"}]}
    # A new connection each time: the kernel spreads them over the workers that listen. The
    # fixture waits for one worker to answer, so the other may still be starting: keep calling
    # (bounded) until both have answered.
    deadline = asyncio.get_running_loop().time() + 15
    calls = 0
    while len(processes) < 2 and asyncio.get_running_loop().time() < deadline:
        calls += 1
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{gateway.url}/v1/chat/completions", json=body) as response,
        ):
            assert response.status == 200
            parsed = parse_call_id(response.headers["X-Turnout-Call-Id"])
            assert parsed is not None
            processes.add(parsed.process)
    assert len(processes) == 2, f"one worker answered all {calls} calls"

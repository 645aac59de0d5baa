"""Every buffer an upstream can grow is bounded, measured on the real `turnout gateway` process:
a buffered answer past the cap is a 502 naming the limit, and memory comes back; one huge SSE
event streams through in linear time while other callers stay fast."""

import asyncio
import time
from pathlib import Path

from tests.conftest import wait_for
from tests.gateway.conftest import fault_routes

LIMIT = 4 * 1024 * 1024
MB = 1024 * 1024


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def chat(model, **extra):
    return {"model": model, "messages": [{"role": "user", "content": "x"}], **extra}


async def call(http, url, model):
    async with http.post(f"{url}/v1/chat/completions", json=chat(model)) as response:
        return response.status, await response.json(content_type=None)


async def test_buffered_answers_are_capped_and_memory_returns_to_baseline(
    redis, redis_server, fault_server, gateway_processes, http
):
    huge = [
        "endless-chunked",
        f"huge-body={200 * MB}",
        f"huge-body-until-close={200 * MB}",
    ]
    await fault_routes(redis, fault_server, ["ok", *huge], timeout_s=10.0)
    gateway = await gateway_processes(
        redis_server.url, env={"TURNOUT_UPSTREAM_BODY_LIMIT_BYTES": str(LIMIT)}
    )
    pid = gateway.process.pid
    for _ in range(20):  # warm up: imports, pools, first allocations
        assert (await call(http, gateway.url, "ok"))[0] == 200
    baseline = memory_kb(pid)
    for mode in huge:
        for _ in range(3):
            status, data = await call(http, gateway.url, mode.partition("=")[0])
            assert status == 502, data
            assert data["error"]["code"] == "upstream_body_too_large"
            assert f"limit of {LIMIT} bytes" in data["error"]["message"]
    assert (await call(http, gateway.url, "ok"))[0] == 200
    after = memory_kb(pid)
    # before the cap: 1.5 GB for the endless body, 489 MB for the 200 MB one
    assert after["VmHWM"] - baseline["VmRSS"] < 48 * 1024, (baseline, after)
    assert after["VmRSS"] - baseline["VmRSS"] < 24 * 1024, (baseline, after)
    async with http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    assert 'turnout_upstream_refused_total{code="upstream_body_too_large"} 9.0' in text


async def test_one_huge_sse_event_streams_through_while_other_calls_stay_fast(
    redis, redis_server, fault_server, gateway_processes, http
):
    size = 200 * MB  # long enough to outlast several other calls, however fast the relay
    await fault_routes(redis, fault_server, ["ok", f"huge-event={size}"], timeout_s=10.0)
    gateway = await gateway_processes(redis_server.url)
    assert (await call(http, gateway.url, "ok"))[0] == 200
    done = asyncio.Event()
    latencies: list[float] = []

    async def stream() -> tuple[int, bytes]:
        received = 0
        tail = b""
        async with http.post(
            f"{gateway.url}/v1/chat/completions", json=chat("huge-event", stream=True)
        ) as response:
            assert response.status == 200
            async for chunk in response.content.iter_any():
                received += len(chunk)
                tail = (tail + chunk)[-64:]
        done.set()
        return received, tail

    async def others() -> None:
        while not done.is_set():
            started = time.perf_counter()
            status, _ = await call(http, gateway.url, "ok")
            assert status == 200
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)

    started = time.perf_counter()
    (received, tail), _ = await asyncio.gather(stream(), others())
    elapsed = time.perf_counter() - started
    assert received > size and tail.endswith(b"data: [DONE]\n\n")
    assert b'"usage"' not in tail  # the scan resumed after the huge event: usage hidden
    # the old tap re-copied its tail per chunk: ~29 s of CPU for this event, others stalled
    assert elapsed < 15.0
    assert len(latencies) >= 3 and max(latencies) < 1.0, latencies
    async with http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    assert 'turnout_telemetry_dropped_total{kind="sse_events"} 1.0' in text

    async def counted() -> bool:
        async with http.get(f"{gateway.url}/metrics") as response:
            return 'turnout_tokens_total{direction="output",release="r1",route="huge-event"}' in (
                await response.text()
            )

    await wait_for(counted)

"""Both planes reach Redis through Sentinel with a `redis+sentinel://` URL."""

import subprocess
from pathlib import Path

import pytest

from gateway.contract.redis_url import RedisUrlError, connect
from tests import builders
from tests.conftest import free_port, publish_route, wait_for
from turnout.embedded_redis import find_redis_server


@pytest.fixture
def sentinel(redis_server, tmp_path: Path):
    port = free_port()
    master_port = redis_server.url.rsplit(":", 1)[1].split("/")[0]
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor main 127.0.0.1 {master_port} 1\n"
    )
    process = subprocess.Popen(
        [find_redis_server(), str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield f"redis+sentinel://127.0.0.1:{port}/main"
    process.terminate()
    process.wait(timeout=5)


async def test_gateway_serves_and_follows_flips_through_sentinel(
    sentinel, redis, simulator, gateway_factory, http
):
    releases = [builders.release("r1"), builders.release("r2")]
    await publish_route(redis, simulator, builders.state("bot", {"r1": 100, "r2": 0}), releases)

    async def sentinel_answers():
        client = connect(sentinel, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            return await client.ping()
        except Exception:
            return False
        finally:
            await client.aclose()

    await wait_for(sentinel_answers, timeout_s=5, step_s=0.05)
    gateway = await gateway_factory(sentinel)
    body = {"model": "bot", "messages": [{"role": "user", "content": "x"}]}
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
        assert response.headers["X-Turnout-Release"] == "r1"
    revision = await publish_route(redis, simulator, builders.state("bot", {"r2": 100}), [])
    await wait_for(lambda: gateway.context.holder.table.routes["bot"].revision == revision)
    async with http.post(f"{gateway.url}/v1/chat/completions", json=body) as response:
        assert response.headers["X-Turnout-Release"] == "r2"


@pytest.mark.parametrize(
    "url",
    ["redis+sentinel://127.0.0.1:26379/", "redis+sentinel://nohostport/main",
     "redis+sentinel://127.0.0.1:26379/main/db"],
)  # fmt: skip
def test_malformed_sentinel_urls_are_refused(url):
    with pytest.raises(RedisUrlError):
        connect(url)

"""Suites written for one redis-server, run against a 3-master Redis Cluster: `redis_server`
and `redis` are the cluster here (a `redis+cluster://` URL and a cluster client)."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.contract.redis_url import connect
from tests.control.conftest import admin, api  # noqa: F401 (the admin API, on the cluster)


@pytest.fixture
def redis_server(redis_cluster: Any) -> Any:
    redis_cluster.flush()
    return redis_cluster


@pytest.fixture
async def redis(redis_server: Any) -> AsyncIterator[aioredis.Redis]:
    client = connect(redis_server.url)
    yield client
    await client.aclose()

"""Gateway-test parts: the simulator's fault server and routes that point at its modes."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from control.publish import put_provider, put_route
from gateway.contract.snapshot import ReleaseSpec
from simulator.faults import FaultServer
from tests import builders


@pytest.fixture
async def fault_server() -> AsyncIterator[FaultServer]:
    server = FaultServer()
    await server.start()
    yield server
    await server.close()


async def fault_routes(
    redis: aioredis.Redis, server: FaultServer, modes: list[str], **provider_fields: Any
) -> None:
    """A route per mode, named after it (without its `=size`), whose provider's base_url
    selects that fault."""
    for mode in modes:
        route = mode.partition("=")[0]
        name = f"f-{route}"
        await put_provider(
            redis, builders.provider(server.base_url(mode), name=name, **provider_fields)
        )
        release = ReleaseSpec(id="r1", model=builders.model("m", provider_name=name))
        await put_route(redis, builders.state(route, {"r1": 100}), [release])

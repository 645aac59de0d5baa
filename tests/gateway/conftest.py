"""Gateway-test parts: an event-loop blocking detector, the simulator's fault server and routes
that point at its modes."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from blockbuster import BlockBuster, blockbuster_ctx

from gateway.contract.snapshot import ReleaseSpec
from simulator.faults import FaultServer
from tests import builders
from tests.seeding import seed_provider, seed_route


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fails any gateway test in which gateway or simulator code blocks the event loop (a file
    read, a sleep, a blocking socket call) while it runs, as aiohttp's own suite does."""
    with blockbuster_ctx(["gateway", "simulator"]) as detector:
        # redis-py reads its own version from package metadata once, on its first connection
        for function in ("os.stat", "io.BufferedReader.read", "io.TextIOWrapper.read"):
            detector.functions[function].can_block_in("redis/utils.py", "get_lib_version")
        # the last-known-good snapshot file is read once at start-up, before the port serves
        detector.functions["io.BufferedReader.read"].can_block_in("gateway/sync.py", "load_file")
        yield detector


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
        await seed_provider(
            redis, builders.provider(server.base_url(mode), name=name, **provider_fields)
        )
        release = ReleaseSpec(id="r1", model=builders.model("m", provider_name=name))
        await seed_route(redis, builders.state(route, {"r1": 100}), [release])

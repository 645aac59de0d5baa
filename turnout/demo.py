"""The offline demo: a simulated provider and a route `demo` with two releases (r1 100%, r2 0%)."""

import redis.asyncio as aioredis

from control.publish import put_provider, put_route
from gateway.contract import keys
from gateway.contract.snapshot import (
    ModelSpec,
    PromptSpec,
    ProviderSpec,
    ReleaseSpec,
    RouteState,
)

DEMO_ROUTE = "demo"


async def create_demo(redis: aioredis.Redis, sim_url: str) -> bool:
    """Create the demo route once; returns False when it already exists (kept as it is)."""
    await put_provider(redis, ProviderSpec(name="sim", base_url=sim_url, timeout_s=30.0))
    if await redis.exists(keys.route_state(DEMO_ROUTE)):
        return False
    model = ModelSpec(
        ref="sim-chat@1", provider="sim", upstream_model="sim-chat", params={"temperature": 0.2}
    )
    r1 = ReleaseSpec(
        id="r1",
        model=model,
        prompt=PromptSpec(ref="support@1", system="You are a helpful support agent."),
    )
    r2 = ReleaseSpec(
        id="r2",
        model=model,
        prompt=PromptSpec(ref="support@2", system="You are a concise, friendly support agent."),
    )
    state = RouteState(name=DEMO_ROUTE, revision=1, stable="r1", weights_bp={"r1": 10_000, "r2": 0})
    await put_route(redis, state, [r1, r2])
    return True

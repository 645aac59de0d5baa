"""The offline demo: a simulated provider and a route `demo` with two releases that differ in
prompt (r1 at 100%, r2 at 0%), created through the control plane's registry code."""

from datetime import UTC, datetime

import redis.asyncio as aioredis

from control import homes
from control.errors import Conflict
from control.registry import models, prompts, providers
from control.registry.releases import ReleaseIn
from control.routes import changes, views
from control.store import Store
from gateway.contract import keys

DEMO_ROUTE = "demo"
ACTOR = "turnout-up"
REASON = "turnout up --demo"


async def create_demo(redis: aioredis.Redis, sim_url: str) -> bool:
    """Create the demo route once; returns False when it already exists (kept as it is)."""
    store = Store(redis)
    provider = providers.ProviderIn(base_url=sim_url, timeout_s=30.0, reason=REASON)
    await providers.put(store, "sim", provider, actor=ACTOR)
    if await redis.exists(keys.route_state(DEMO_ROUTE, await homes.group_of(redis, DEMO_ROUTE))):
        return False
    now = datetime.now(UTC)
    helpful = await prompts.create(
        store,
        "support",
        prompts.PromptIn(system="You are a helpful support agent.", note="demo baseline"),
        actor=ACTOR,
        now=now,
    )
    concise = await prompts.create(
        store,
        "support",
        prompts.PromptIn(system="You are a concise, friendly support agent.", note="shorter"),
        actor=ACTOR,
        now=now,
    )
    model = models.ModelIn(provider="sim", upstream_model="sim-chat", params={"temperature": 0.2})
    chat = await models.create(store, "sim-chat", model, actor=ACTOR, now=now)
    first = ReleaseIn(model=chat.ref, prompt=helpful.ref, note="baseline")
    try:
        await changes.create_route(
            store,
            changes.RouteIn(name=DEMO_ROUTE, release=first, reason=REASON),
            actor=ACTOR,
            now=now,
        )
    except Conflict:
        return False  # another process created it in the meantime
    second = ReleaseIn(model=chat.ref, prompt=concise.ref, note="a more concise prompt")
    await changes.add_release(store, DEMO_ROUTE, second, actor=ACTOR, now=now)
    return True


async def describe(redis: aioredis.Redis) -> str:
    """The demo route as it is now, for the banner: "r1 at 100%, r2 at 0% (stable r1, …)"."""
    route = views.view(await views.read(Store(redis), DEMO_ROUTE))
    shares = ", ".join(f"{r.id} at {r.weight:g}%" for r in route.releases)
    pinned = ", pinned" if route.pinned else ""
    return f"{shares} (stable {route.stable}, revision {route.revision}{pinned})"

"""Writing routes and providers in the contract's shape, and announcing the change.

The minimal writer the tests use for fixtures (the admin API and the demo go through
`control.routes.changes`, which also audits). Creating a route indexes its name, then writes
its releases and state in one MULTI/EXEC (one slot on Redis Cluster), then publishes; readers
skip an indexed name without a state.
"""

import msgspec
import redis.asyncio as aioredis

from gateway.contract import keys
from gateway.contract.events import ProvidersChanged, RouteChanged, event_encoder
from gateway.contract.snapshot import ProviderSpec, ReleaseSpec, RouteState

_encoder = msgspec.json.Encoder()


async def put_provider(redis: aioredis.Redis, provider: ProviderSpec) -> None:
    await redis.hset(keys.PROVIDERS, provider.name, _encoder.encode(provider))
    await redis.publish(keys.CHANGES_CHANNEL, event_encoder.encode(ProvidersChanged()))


async def put_route(redis: aioredis.Redis, state: RouteState, releases: list[ReleaseSpec]) -> None:
    await redis.sadd(keys.ROUTE_INDEX, state.name)  # another slot than the route's keys
    async with redis.pipeline(transaction=True) as pipe:
        if releases:
            pipe.hset(
                keys.route_releases(state.name),
                mapping={release.id: _encoder.encode(release) for release in releases},
            )
        pipe.set(keys.route_state(state.name), _encoder.encode(state))
        await pipe.execute()
    await announce_route(redis, state)


async def announce_route(redis: aioredis.Redis, state: RouteState) -> None:
    event = RouteChanged(route=state.name, revision=state.revision)
    await redis.publish(keys.CHANGES_CHANNEL, event_encoder.encode(event))

"""Seeding routes and providers for tests through the registry's own code: the same validation,
atomic scripts, audit entries and change events as the admin API (never a raw write).

Tests describe what the gateway should serve with the contract objects of `tests.builders`;
these helpers turn them into registry calls. Release ids are given by the registry (r1, r2, … in
order), version refs too (`sim-chat@1`, `prompt@2`), so builders' ids must come in that order.
"""

from datetime import UTC, datetime

import msgspec
import redis.asyncio as aioredis

from control import homes
from control.errors import NotFound
from control.registry import models, prompts, providers
from control.registry.releases import ReleaseIn
from control.routes import changes, operations, views
from control.routes.weights import bp_to_percent
from control.store import Store
from gateway.contract import keys
from gateway.contract.events import ProvidersChanged, RouteChanged, event_encoder
from gateway.contract.snapshot import ProviderSpec, ReleaseSpec, RouteState

_encoder = msgspec.json.Encoder()

ACTOR = "tests"
REASON = "test fixture"


async def seed_provider(redis: aioredis.Redis, provider: ProviderSpec) -> None:
    body = providers.ProviderIn(
        base_url=provider.base_url,
        kind=provider.kind,
        api_key_env=provider.api_key_env,
        timeout_s=provider.timeout_s,
        max_connections=provider.max_connections,
        api_version=provider.api_version,
        ca_bundle=provider.ca_bundle,
        reason=REASON,
    )
    await providers.put(Store(redis), provider.name, body, actor=ACTOR)


async def _release_in(store: Store, release: ReleaseSpec, now: datetime) -> ReleaseIn:
    """Registers the release's model and prompt versions; the release as the API takes it."""
    model = release.model
    model_version = await models.create(
        store,
        model.ref.partition("@")[0],
        models.ModelIn(
            provider=model.provider,
            upstream_model=model.upstream_model,
            params=model.params,
            input_usd_per_mtok=model.input_usd_per_mtok,
            output_usd_per_mtok=model.output_usd_per_mtok,
        ),
        actor=ACTOR,
        now=now,
    )
    prompt_ref = None
    if release.prompt is not None:
        prompt = release.prompt
        body = prompts.PromptIn(system=prompt.system, messages=prompt.messages)
        created = await prompts.create(
            store, prompt.ref.partition("@")[0], body, actor=ACTOR, now=now
        )
        prompt_ref = created.ref
    return ReleaseIn(
        model=model_version.ref,
        prompt=prompt_ref,
        params=release.params,
        artifacts=release.artifacts,
    )


async def seed_route(redis: aioredis.Redis, route: RouteState, releases: list[ReleaseSpec]) -> int:
    """Creates the route (or adds to it) with `releases`, then moves it to `route`'s stable,
    weights, pin, retry policy and kill switch. Returns the route's revision."""
    store = Store(redis)
    now = datetime.now(UTC)
    try:
        known = set((await views.read(store, route.name)).releases)
    except NotFound:
        known = set()
    for release in releases:
        if release.id in known:
            continue
        body = await _release_in(store, release, now)
        if not known:
            new = changes.RouteIn(name=route.name, release=body, sticky=route.sticky, reason=REASON)
            await changes.create_route(store, new, actor=ACTOR, now=now)
            given = "r1"
        else:
            _, given = await changes.add_release(store, route.name, body, actor=ACTOR, now=now)
        assert given == release.id, f"the registry named {release.id!r} {given!r}: order them"
        known.add(given)
    data = await views.read(store, route.name)
    if data.state.stable != route.stable:
        body_promote = changes.PromoteIn(release=route.stable, reason=REASON)
        data = await changes.promote(store, route.name, body_promote, actor=ACTOR)
    if _with_traffic(data.state.weights_bp) != _with_traffic(route.weights_bp):
        data = await flip(redis, route.name, route.weights_bp)
    if data.state.pinned != route.pinned:
        pin = changes.PinIn(reason=REASON)
        data = await changes.set_pinned(store, route.name, pin, pin=route.pinned, actor=ACTOR)
    if data.state.retry != route.retry:
        retry = changes.RetryIn(retry=route.retry, reason=REASON)
        data = await changes.set_retry(store, route.name, retry, actor=ACTOR)
    if data.state.kill_switch != route.kill_switch:
        if route.kill_switch is None:
            data = await operations.unkill(
                store, route.name, changes.PinIn(reason=REASON), actor=ACTOR
            )
        else:
            kill = operations.KillIn(release=route.kill_switch, reason=REASON)
            data = await operations.kill(store, route.name, kill, actor=ACTOR)
    return data.state.revision


def _with_traffic(weights_bp: dict[str, int]) -> dict[str, int]:
    return {release: bp for release, bp in weights_bp.items() if bp}


async def flip(redis: aioredis.Redis, route: str, weights_bp: dict[str, int]) -> views.RouteData:
    """A compare-and-set flip as an operator makes it (weights in basis points here)."""
    store = Store(redis)
    current = await views.read(store, route)
    body = changes.WeightsIn(
        weights={release: bp_to_percent(bp) for release, bp in weights_bp.items()},
        expected_revision=current.state.revision,
        reason=REASON,
    )
    return await changes.flip(store, route, body, actor=ACTOR)


async def announce(redis: aioredis.Redis, route: str, revision: int) -> None:
    """A change event alone (no write): a late, duplicated or lost-and-found message."""
    event = RouteChanged(route=route, revision=revision)
    await redis.publish(keys.CHANGES_CHANNEL, event_encoder.encode(event))


async def write_raw(
    redis: aioredis.Redis, state: RouteState | None = None, provider: ProviderSpec | None = None
) -> None:
    """Data the registry would refuse or never write (an unknown schema, a forbidden key
    variable), put into Redis as another writer might, and announced: for tests of what the
    gateway does with it. Never the way to seed a test's routes."""
    if state is not None:
        group = await homes.group_of(redis, state.name)
        await redis.set(keys.route_state(state.name, group), _encoder.encode(state))
        await announce(redis, state.name, state.revision)
    if provider is not None:
        await redis.hset(keys.PROVIDERS, provider.name, _encoder.encode(provider))
        await redis.publish(keys.CHANGES_CHANNEL, event_encoder.encode(ProvidersChanged()))

"""Providers: upstreams by name. Only the *name* of the key's environment variable is stored;
keys are never in Redis, never in an answer, never logged. Upserts are audited.
"""

from typing import Annotated, Literal

import msgspec

from control.registry import rules
from control.store import Store, text
from gateway.contract import keys
from gateway.contract.snapshot import ProviderSpec

MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.01, 3600.0
MAX_CONNECTIONS = 10_000


class ProviderIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    base_url: rules.BaseUrl  # of an OpenAI-compatible API, e.g. "https://api.openai.com/v1"
    kind: Literal["openai"] = "openai"
    api_key_env: rules.KeyEnvName | None = None  # name of the environment variable with the key
    # per call (per chunk for streams): 10 ms to 1 hour
    timeout_s: Annotated[float, msgspec.Meta(ge=MIN_TIMEOUT_S, le=MAX_TIMEOUT_S)] = 60.0
    # per gateway process: 1 to 10,000
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=MAX_CONNECTIONS)] = 256
    reason: str = ""  # recorded in the audit trail


class ProviderOut(msgspec.Struct, frozen=True):
    provider: ProviderSpec
    changed: bool  # False when the stored provider was already identical
    created: bool  # True when no provider of that name existed


_decoder = msgspec.json.Decoder(ProviderSpec)


def spec(name: str, body: ProviderIn) -> ProviderSpec:
    """Pure checks and conversion to the contract shape."""
    rules.check_name("name", name)
    rules.check_base_url("base_url", body.base_url)
    rules.check_env_name("api_key_env", body.api_key_env)
    return ProviderSpec(
        name=name,
        base_url=body.base_url,
        kind=body.kind,
        api_key_env=body.api_key_env,
        timeout_s=body.timeout_s,
        max_connections=body.max_connections,
    )


async def put(store: Store, name: str, body: ProviderIn, *, actor: str) -> ProviderOut:
    provider = spec(name, body)
    outcome = await store.put_provider(provider, actor=actor, reason=body.reason)
    return ProviderOut(provider=provider, changed=outcome > 0, created=outcome == 2)


async def list_all(store: Store) -> list[ProviderSpec]:
    raw = await store.redis.hgetall(keys.PROVIDERS)
    return sorted((_decoder.decode(blob) for blob in raw.values()), key=lambda p: p.name)


async def names(store: Store) -> set[str]:
    return {text(name) for name in await store.redis.hkeys(keys.PROVIDERS)}

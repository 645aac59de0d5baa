"""Snapshot Structs: what the control plane writes to Redis and every gateway holds in memory.

Written by the control plane (registry, flips); read by `gateway.sync`. Weights are integer basis
points (1/100 of a percent) so that they sum to exactly 10,000 with no float rounding.
"""

from typing import Annotated, Any, Literal

import msgspec

from gateway.contract.durability import DataEpoch

SCHEMA_VERSION = 1

NonEmptyName = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


def key_env_refusal(name: str) -> str | None:
    """Why `name` may not be a provider's key variable (Turnout's own secrets), or None."""
    if name.startswith("TURNOUT_") or name == "REDIS_URL":
        return f"{name} is a Turnout setting, not a provider key; name another variable"
    return None


class ProviderSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An upstream. Never holds a secret: only the name of the env variable holding the key."""

    name: NonEmptyName
    base_url: str  # e.g. "https://api.openai.com/v1"; the gateway appends "/chat/completions"
    kind: Literal["openai"] = "openai"
    api_key_env: str | None = None  # env var name read by the gateway at request time
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0  # per call; per chunk for streams
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 256  # per gateway process


# The roles a prompt version's messages may have (checked by the control plane when a version
# is created; stated in the admin API's schema through the annotation).
PROMPT_ROLES = ("system", "developer", "user", "assistant")


class PromptMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: Annotated[str, msgspec.Meta(extra_json_schema={"enum": list(PROMPT_ROLES)})]
    content: str


class PromptSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A prompt version as the gateway needs it: template text, variables already parsed."""

    ref: str  # "name@N"
    system: str | None = None
    messages: list[PromptMessage] = []
    variables: list[str] = []


class ModelSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A model version: provider, upstream model name, default params, prices."""

    ref: str  # "name@N"
    provider: str
    upstream_model: str
    params: dict[str, Any] = {}
    input_usd_per_mtok: float = 0.0  # price per million input tokens, for cost telemetry
    output_usd_per_mtok: float = 0.0


class ReleaseSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An immutable release of one route, with its prompt and model versions resolved."""

    id: str  # "r1", "r2", … unique within the route
    model: ModelSpec
    prompt: PromptSpec | None = None
    params: dict[str, Any] = {}  # overrides model defaults and the caller's fields
    artifacts: dict[str, str] = {}  # coordinated artefacts (index version, tool schema, …)


class RouteState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The mutable pointer of a route. Changed only by atomic scripts that bump `revision`."""

    name: str
    revision: int
    stable: str
    weights_bp: dict[str, int]  # release id -> basis points; sums to 10,000
    sticky: bool = True
    pinned: bool = False  # an operator's mark; reserved for automation (none exists yet) to honour
    schema_version: int = SCHEMA_VERSION


class RouteSnapshot(msgspec.Struct, frozen=True):
    """One route as a gateway serves it: its state plus the releases it can serve."""

    state: RouteState
    releases: dict[str, ReleaseSpec]


class Snapshot(msgspec.Struct, frozen=True):
    """Everything a gateway needs, also the shape of the last-known-good file."""

    routes: dict[str, RouteSnapshot]
    providers: dict[str, ProviderSpec]
    schema_version: int = SCHEMA_VERSION
    epoch: DataEpoch | None = None  # the registry's life this was read from (None: unknown)

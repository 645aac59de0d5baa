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


# How a provider is spoken to. `openai`: any OpenAI-compatible server (base_url +
# "/chat/completions", `Authorization: Bearer`); `azure_openai`: base_url +
# "/openai/deployments/{upstream_model}/…?api-version=…" with an `api-key` header; `anthropic`:
# base_url + "/messages" (the Messages API, translated to and from OpenAI's chat shape),
# `x-api-key` and `anthropic-version` headers.
ProviderKind = Literal["openai", "azure_openai", "anthropic"]
PROVIDER_KINDS: tuple[str, ...] = ("openai", "azure_openai", "anthropic")


class ProviderSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An upstream. Never holds a secret: only the name of the env variable holding the key."""

    name: NonEmptyName
    base_url: str  # e.g. "https://api.openai.com/v1"; the gateway appends "/chat/completions"
    kind: ProviderKind = "openai"
    api_key_env: str | None = None  # env var name read by the gateway at request time
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0  # per call; per chunk for streams
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 256  # per gateway process
    api_version: str | None = None  # azure_openai only (required there): `api-version` query
    # PEM file of the CAs that verify this provider's certificate, a path on each gateway host;
    # None: the gateway's TURNOUT_CA_BUNDLE, else the system store (which honours SSL_CERT_FILE)
    ca_bundle: str | None = None


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


class RetryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How a route's gateways retry failed upstream calls and fall back from a failing canary.

    Written by operators through the admin API (an audited route change); read by every gateway.
    Retried: connect failures, 429 and 5xx answers, never a stream after its first byte reached
    the caller. Each gateway process keeps a budget per route: retries and fallbacks together
    are at most `budget_percent` of the route's calls over the last 10 s (plus a small reserve),
    so an outage does not turn into a retry storm.
    """

    max_retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2  # extra attempts per call
    budget_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 10.0  # of calls, 10 s window
    # a Retry-After longer than this is not waited for: that answer goes to the caller
    retry_after_cap_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0
    backoff_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 100.0  # doubles per retry
    # a call of a non-stable release that still fails is answered by the stable release; the
    # failure stays counted against the release that failed
    fallback: bool = False


class RouteState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The mutable pointer of a route. Changed only by atomic scripts that bump `revision`."""

    name: str
    revision: int
    stable: str
    weights_bp: dict[str, int]  # release id -> basis points; sums to 10,000
    sticky: bool = True
    pinned: bool = False  # the rollout controller does not move a pinned route
    # Emergency kill switch: when set, every call of the route gets this release, whatever the
    # weights, the caller's X-Turnout-Release pin or a running rollout say. Set and cleared only
    # by audited emergency changes (control.routes.operations.kill / unkill, rollback --emergency).
    kill_switch: str | None = None
    # Opt-in (personal data): keep the sticky keys each release served for this many seconds, so
    # operators can notify affected users; 0 = off. Written by the gateways' telemetry flush.
    record_users_s: int = 0
    # Route group (coordinated changes): the group's name is the bucketing salt of all its routes
    # and their canaries all sit at the bottom of the bucket range, so at equal weights a user
    # gets the new releases of every route of the group or of none. Set by control.groups.
    group: str | None = None
    # Retries and canary fallback (set by PUT /admin/routes/{route}/retry).
    retry: RetryPolicy | None = None  # None: no retries, no fallback
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

"""The in-memory routing table each gateway serves from, compiled from the contract Structs.

Built off the request path (at start and by `gateway.sync`), swapped in whole: a request sees one
consistent table. No Redis I/O here.
"""

import os
import random
from typing import Any

from gateway.contract.bucketing import cumulative_bounds, release_for_bucket, sticky_bucket
from gateway.contract.snapshot import (
    SCHEMA_VERSION,
    ProviderSpec,
    ReleaseSpec,
    RouteSnapshot,
    Snapshot,
    key_env_refusal,
)
from gateway.render import CompiledPrompt, compile_prompt
from gateway.telemetry.recorder import Recorder, ReleaseStats
from gateway.upstream.client import UpstreamTarget

CHAT_PATH = "/chat/completions"
EMBEDDINGS_PATH = "/embeddings"


class ServedRelease:
    """One release ready to serve: rendered prompt parts, merged params, upstream targets."""

    __slots__ = (
        "chat_target",
        "defaults",
        "embeddings_target",
        "id",
        "max_connections",
        "overrides",
        "prompt",
        "provider_error",
        "spec",
        "stats",
        "tags",
        "upstream_model",
    )

    def __init__(
        self,
        route: str,
        spec: ReleaseSpec,
        provider: ProviderSpec | None,
        stats: ReleaseStats,
    ) -> None:
        self.id = spec.id
        self.spec = spec
        self.upstream_model = spec.model.upstream_model
        self.prompt: CompiledPrompt | None = compile_prompt(spec.prompt) if spec.prompt else None
        self.defaults: dict[str, Any] = dict(spec.model.params)
        self.overrides: dict[str, Any] = dict(spec.params)
        self.stats = stats
        stats.input_usd_per_mtok = spec.model.input_usd_per_mtok
        stats.output_usd_per_mtok = spec.model.output_usd_per_mtok
        self.tags: dict[str, str] = {
            "X-Turnout-Route": route,
            "X-Turnout-Release": spec.id,
            "X-Turnout-Prompt": spec.prompt.ref if spec.prompt else "-",
            "X-Turnout-Model": spec.model.ref,
        }
        self.provider_error: str | None = None
        self.chat_target: UpstreamTarget | None = None
        self.embeddings_target: UpstreamTarget | None = None
        self.max_connections = 1
        if provider is None:
            self.provider_error = f"provider {spec.model.provider!r} is not configured"
            return
        refusal = key_env_refusal(provider.api_key_env) if provider.api_key_env else None
        if refusal is not None:
            self.provider_error = f"provider {provider.name!r}: {refusal}"
            return
        api_key = os.environ.get(provider.api_key_env) if provider.api_key_env else None
        try:
            self.chat_target = UpstreamTarget(
                provider.base_url, CHAT_PATH, api_key, provider.timeout_s
            )
            self.embeddings_target = UpstreamTarget(
                provider.base_url, EMBEDDINGS_PATH, api_key, provider.timeout_s
            )
        except ValueError as error:
            self.provider_error = f"provider {provider.name!r}: {error}"
        self.max_connections = provider.max_connections


class ServedRoute:
    __slots__ = ("bounds", "name", "order", "releases", "revision", "snapshot", "sticky")

    def __init__(
        self, snapshot: RouteSnapshot, providers: dict[str, ProviderSpec], recorder: Recorder
    ) -> None:
        state = snapshot.state
        if state.schema_version > SCHEMA_VERSION:
            raise ValueError(
                f"schema version {state.schema_version} is newer than this gateway's "
                f"{SCHEMA_VERSION}"
            )
        self.snapshot = snapshot
        self.name = state.name
        self.revision = state.revision
        self.sticky = state.sticky
        self.releases: dict[str, ServedRelease] = {
            release_id: ServedRelease(
                state.name,
                spec,
                providers.get(spec.model.provider),
                recorder.stats_for(state.name, release_id),
            )
            for release_id, spec in snapshot.releases.items()
        }
        bounds, order = cumulative_bounds(state.weights_bp, state.stable)
        self.bounds = bounds
        self.order = [self.releases[release_id] for release_id in order]

    def pick(self, sticky_key: str | None, rng: random.Random) -> ServedRelease:
        if self.sticky and sticky_key is not None:
            bucket = sticky_bucket(self.name, sticky_key)
        else:
            bucket = rng.randrange(10_000)
        if len(self.order) == 1:
            return self.order[0]
        return release_for_bucket(self.bounds, self.order, bucket)


class RoutingTable:
    """An immutable view of all routes; replaced, never mutated, when a change arrives.

    A route that does not compile (a newer schema, weights naming a missing release, a bad
    template) keeps its previously served version, and is listed in `rejected`.
    """

    __slots__ = ("rejected", "routes", "snapshot")

    def __init__(
        self, snapshot: Snapshot, recorder: Recorder, previous: "RoutingTable | None" = None
    ) -> None:
        self.routes: dict[str, ServedRoute] = {}
        self.rejected: dict[str, str] = {}  # route -> why its new version is not served
        kept = dict(snapshot.routes)
        for name, route in snapshot.routes.items():
            try:
                self.routes[name] = ServedRoute(route, snapshot.providers, recorder)
            except (KeyError, ValueError, TypeError) as error:
                self.rejected[name] = f"{type(error).__name__}: {error}"
                old = previous.routes.get(name) if previous is not None else None
                if old is None:
                    del kept[name]
                else:
                    self.routes[name] = old
                    kept[name] = old.snapshot
        self.snapshot = (
            snapshot
            if not self.rejected
            else Snapshot(
                routes=kept,
                providers=snapshot.providers,
                schema_version=SCHEMA_VERSION,
                epoch=snapshot.epoch,
            )
        )
        recorder.retain(
            {(name, release) for name, route in self.routes.items() for release in route.releases}
        )

"""The in-memory routing table each gateway serves from, compiled from the contract Structs.

Built off the request path (at start and by `gateway.sync`), swapped in whole: a request sees one
consistent table. No Redis I/O here.
"""

import os
import random
from typing import Any

from gateway.contract.bucketing import cumulative_bounds, release_for_bucket, sticky_bucket
from gateway.contract.snapshot import ProviderSpec, ReleaseSpec, RouteSnapshot, Snapshot
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
    """An immutable view of all routes; replaced, never mutated, when a change arrives."""

    __slots__ = ("routes", "snapshot")

    def __init__(self, snapshot: Snapshot, recorder: Recorder) -> None:
        self.snapshot = snapshot
        self.routes: dict[str, ServedRoute] = {
            name: ServedRoute(route, snapshot.providers, recorder)
            for name, route in snapshot.routes.items()
        }
        recorder.retain(
            {(name, release) for name, route in self.routes.items() for release in route.releases}
        )

    @property
    def revision_sum(self) -> int:
        return sum(route.revision for route in self.routes.values())

"""The in-memory routing table each gateway serves from, compiled from the contract Structs.

Built off the request path (at start and by `gateway.sync`), swapped in whole: a request sees one
consistent table. No Redis I/O here.
"""

import random
from typing import Any

from gateway.callers.heads import header_line
from gateway.contract.bucketing import cumulative_bounds, release_for_bucket, sticky_bucket
from gateway.contract.snapshot import (
    SCHEMA_VERSION,
    ReleaseSpec,
    RouteSnapshot,
    Snapshot,
)
from gateway.dialect import DIALECTS, Dialect
from gateway.provider import CHAT, EMBEDDINGS, ServedProvider
from gateway.render import CompiledPrompt, compile_prompt
from gateway.retry import Retry, RetryBudget
from gateway.telemetry.recorder import Recorder, ReleaseStats
from gateway.upstream.client import UpstreamClient, UpstreamTarget


class ServedRelease:
    """One release ready to serve: rendered prompt parts, merged params, upstream targets, the
    provider kind's dialect, and the route's retry policy and fallback (compiled per table)."""

    __slots__ = (
        "chat_target",
        "defaults",
        "dialect",
        "embeddings_target",
        "fallback",
        "id",
        "overrides",
        "prompt",
        "provider_error",
        "retry",
        "spec",
        "stats",
        "tag_lines",
        "upstream_model",
    )

    def __init__(
        self,
        route: str,
        spec: ReleaseSpec,
        provider: ServedProvider | None,
        stats: ReleaseStats,
        record_users_s: int = 0,
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
        stats.record_users_s = record_users_s
        tags = {
            "X-Turnout-Route": route,
            "X-Turnout-Release": spec.id,
            "X-Turnout-Prompt": spec.prompt.ref if spec.prompt else "-",
            "X-Turnout-Model": spec.model.ref,
        }
        self.retry: Retry | None = None  # set by the route when it has a retry policy
        self.fallback: ServedRelease | None = None  # the stable release, when the route falls back
        self.dialect: Dialect = DIALECTS["openai"]
        # the response header lines naming the release, encoded once (a name that could split
        # a response head is refused here, and the route keeps its served version)
        self.tag_lines = b"".join(header_line(name, value) for name, value in tags.items())
        self.provider_error: str | None = None
        self.chat_target: UpstreamTarget | None = None
        self.embeddings_target: UpstreamTarget | None = None
        if provider is None:
            self.provider_error = f"provider {spec.model.provider!r} is not configured"
            return
        self.dialect = provider.dialect
        self.provider_error = provider.error
        self.chat_target = provider.target(self.upstream_model, CHAT)
        self.embeddings_target = provider.target(self.upstream_model, EMBEDDINGS)


class ServedRoute:
    __slots__ = (
        "bounds",
        "budget",
        "forced",
        "name",
        "order",
        "releases",
        "revision",
        "salt",
        "snapshot",
        "sticky",
    )

    def __init__(
        self,
        snapshot: RouteSnapshot,
        providers: dict[str, ServedProvider],
        recorder: Recorder,
        previous: "ServedRoute | None" = None,
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
                state.record_users_s,
            )
            for release_id, spec in snapshot.releases.items()
        }
        # The retry budget outlives table swaps: a flip must not hand a route a fresh budget.
        self.budget: RetryBudget = previous.budget if previous is not None else RetryBudget()
        policy = state.retry
        if policy is not None:
            stable = self.releases.get(state.stable)
            # Under the kill switch every call gets the forced release: no fallback to stable,
            # which may be the very release the operator killed.
            fallback = policy.fallback and state.kill_switch is None
            for release in self.releases.values():
                release.retry = Retry(policy, self.budget, release.stats)
                if fallback and release is not stable:
                    release.fallback = stable
        # A route group shares one salt and puts canaries on one side (coordinated changes).
        self.salt = state.group or state.name
        bounds, order = cumulative_bounds(
            state.weights_bp, state.stable, one_side=state.group is not None
        )
        self.bounds = bounds
        self.order = [self.releases[release_id] for release_id in order]
        # The kill switch's release (KeyError, so a rejected route, if it is not a release).
        self.forced: ServedRelease | None = (
            None if state.kill_switch is None else self.releases[state.kill_switch]
        )

    def pick(self, sticky_key: str | None, rng: random.Random) -> ServedRelease:
        if self.sticky and sticky_key is not None:
            bucket = sticky_bucket(self.salt, sticky_key)
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
        self,
        snapshot: Snapshot,
        recorder: Recorder,
        client: UpstreamClient,
        previous: "RoutingTable | None" = None,
    ) -> None:
        self.routes: dict[str, ServedRoute] = {}
        self.rejected: dict[str, str] = {}  # route -> why its new version is not served
        kept = dict(snapshot.routes)
        providers = {
            name: ServedProvider(spec, client) for name, spec in snapshot.providers.items()
        }
        for name, route in snapshot.routes.items():
            old = previous.routes.get(name) if previous is not None else None
            try:
                self.routes[name] = ServedRoute(route, providers, recorder, old)
            except (KeyError, ValueError, TypeError) as error:
                self.rejected[name] = f"{type(error).__name__}: {error}"
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

"""What a restore writes, built from an export or a gateway's snapshot.json, and checked.

Pure: no Redis here (`control.backup.restore` writes it).
"""

from datetime import datetime

import msgspec

from control.backup import checks
from control.backup.export import RegistryExport, RouteRecord
from control.errors import BROKEN_RULE, BadInput
from control.notify.model import Webhook
from control.registry import rules, versions
from control.registry.models import ModelRecord
from control.registry.prompts import PromptRecord
from control.registry.releases import ReleaseMeta
from control.reviews.model import Review
from control.windows.model import Window
from gateway.contract.bucketing import BUCKETS
from gateway.contract.durability import DataEpoch
from gateway.contract.snapshot import ProviderSpec, Snapshot

_encoder = msgspec.json.Encoder()


class Seed(msgspec.Struct, kw_only=True):
    """The registry to write: the file's epoch, providers, versions, routes and (from an
    export) windows, open review items and webhook subscriptions."""

    epoch: DataEpoch | None
    providers: list[ProviderSpec]
    prompts: dict[str, dict[int, PromptRecord]]
    models: dict[str, dict[int, ModelRecord]]
    routes: dict[str, RouteRecord]
    windows: list[Window] = []
    reviews: dict[str, list[Review]] = {}
    webhooks: list[Webhook] = []

    @property
    def provider_names(self) -> set[str]:
        return {p.name for p in self.providers}


def from_export(export: RegistryExport) -> Seed:
    return Seed(
        epoch=export.epoch,
        providers=export.providers,
        prompts=export.prompts,
        models=export.models,
        routes=export.routes,
        windows=export.windows,
        reviews=export.reviews,
        webhooks=export.webhooks,
    )


def from_snapshot(snapshot: Snapshot, actor: str, now: datetime) -> Seed:
    """The registry as far as a gateway knew it: versions only as releases embed them."""
    note = "restored from a gateway snapshot (the original metadata was not in it)"
    prompts: dict[str, dict[int, PromptRecord]] = {}
    models: dict[str, dict[int, ModelRecord]] = {}
    routes: dict[str, RouteRecord] = {}
    for name, route in snapshot.routes.items():
        for release in route.releases.values():
            if release.prompt is not None:
                prompt_name, number = _ref(release.prompt.ref)
                prompts.setdefault(prompt_name, {})[number] = PromptRecord(
                    system=release.prompt.system,
                    messages=release.prompt.messages,
                    variables=release.prompt.variables,
                    content_hash=versions.content_hash(
                        [release.prompt.system, release.prompt.messages]
                    ),
                    author=actor,
                    note=note,
                    created_at=now,
                )
            model = release.model
            model_name, number = _ref(model.ref)
            content = [
                model.provider,
                model.upstream_model,
                model.params,
                model.input_usd_per_mtok,
                model.output_usd_per_mtok,
            ]
            models.setdefault(model_name, {})[number] = ModelRecord(
                provider=model.provider,
                upstream_model=model.upstream_model,
                params=model.params,
                input_usd_per_mtok=model.input_usd_per_mtok,
                output_usd_per_mtok=model.output_usd_per_mtok,
                content_hash=versions.content_hash(content),
                author=actor,
                note=note,
                created_at=now,
            )
        meta = {r: ReleaseMeta(author=actor, note=note, created_at=now) for r in route.releases}
        routes[name] = RouteRecord(state=route.state, releases=route.releases, meta=meta)
    return Seed(
        epoch=snapshot.epoch,
        providers=list(snapshot.providers.values()),
        prompts=prompts,
        models=models,
        routes=routes,
    )


def check(plan: Seed, source: str) -> None:
    """A hand-edited or damaged file is a 400 naming the place, before anything is written.
    The schema states route names; the rest are rules across fields (`broken_rule`)."""
    for index, provider in enumerate(plan.providers):
        rules.check_name(f"{source}.providers[{index}].name", provider.name)
    checks.check_versions(plan, source)
    for name, route in plan.routes.items():
        field = f"{source}.routes.{name}"
        rules.check_name(field, name)
        state = route.state
        problem = None
        if state.name != name:
            problem = f"state.name is {state.name!r}"
        elif state.stable not in route.releases:
            problem = f"stable release {state.stable!r} is not among its releases"
        elif not set(state.weights_bp) <= set(route.releases):
            problem = "weights name a release it does not have"
        elif sum(state.weights_bp.values()) != BUCKETS or min(state.weights_bp.values()) < 0:
            problem = "weights must be >= 0 and sum to 10000 basis points"
        if problem is not None:
            raise BadInput(f"{field}: {problem}", field=field, code=BROKEN_RULE)
        for release_id, release in route.releases.items():
            checks.check_release(plan, f"{field}.releases.{release_id}", release)
    checks.check_operations(plan, source)


def _ref(ref: str) -> tuple[str, int]:
    return rules.parse_ref("snapshot", ref)  # the pattern the restore body's schema states

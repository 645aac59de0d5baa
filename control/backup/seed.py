"""What a restore writes, built from an export or a gateway's snapshot.json, and checked.

Pure: no Redis here (`control.backup.restore` writes it).
"""

from datetime import datetime

import msgspec

from control.backup.export import RegistryExport, RouteRecord
from control.errors import BROKEN_RULE, BadInput
from control.registry import rules, versions
from control.registry.models import ModelRecord
from control.registry.prompts import PromptRecord
from control.registry.releases import ReleaseMeta
from gateway.contract.bucketing import BUCKETS
from gateway.contract.durability import DataEpoch
from gateway.contract.snapshot import Snapshot

_encoder = msgspec.json.Encoder()


class Seed(msgspec.Struct, kw_only=True):
    """The registry to write: the file's epoch, providers (encoded), versions and routes."""

    epoch: DataEpoch | None
    providers: list[bytes]
    prompts: dict[str, dict[int, PromptRecord]]
    models: dict[str, dict[int, ModelRecord]]
    routes: dict[str, RouteRecord]


def from_export(export: RegistryExport) -> Seed:
    return Seed(
        epoch=export.epoch,
        providers=[_encoder.encode(p) for p in export.providers],
        prompts=export.prompts,
        models=export.models,
        routes=export.routes,
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
        providers=[_encoder.encode(p) for p in snapshot.providers.values()],
        prompts=prompts,
        models=models,
        routes=routes,
    )


def check(plan: Seed, source: str) -> None:
    """A hand-edited or damaged file is a 400 naming the route, before anything is written.
    The schema states the name; the rest are rules across fields (`broken_rule`)."""
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


def _ref(ref: str) -> tuple[str, int]:
    return rules.parse_ref("snapshot", ref)  # the pattern the restore body's schema states

"""Releases: immutable, route-scoped bundles of a prompt version, a model version, params and
artifacts, plus the derived change type versus the route's stable release.

Building a release resolves its references (BadInput naming the field when one is unknown); the
atomic write is `control.routes.changes`.
"""

import msgspec

from control.durations import Time
from control.registry import models, prompts, rules
from control.store import Store
from gateway.contract.snapshot import ReleaseSpec


class ReleaseIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    model: rules.VersionRef  # a model version, "name@N"
    prompt: rules.VersionRef | None = None  # a prompt version, "name@N", or none
    params: rules.Params = {}  # overrides the model's defaults and the caller's fields
    artifacts: dict[str, str] = {}  # coordinated artefacts, e.g. {"index": "v7"}
    note: str = ""


class ReleaseMeta(msgspec.Struct, frozen=True, kw_only=True):
    """Stored in `keyspace.release_meta(route)`; the gateway never reads it."""

    author: str
    note: str
    created_at: Time


meta_encoder = msgspec.json.Encoder()
meta_decoder = msgspec.json.Decoder(ReleaseMeta)

CHANGE_ASPECTS = ("prompt", "model", "params", "artifacts")


async def build(store: Store, release_id: str, body: ReleaseIn, field: str = "") -> ReleaseSpec:
    """Resolve the references of `body`; `field` prefixes field names (e.g. "release.")."""
    rules.check_params(f"{field}params", body.params)
    # `is not None`: an empty reference is a bad reference (as the schema says), not "no prompt"
    prompt = None
    if body.prompt is not None:
        prompt = await prompts.resolve(store, f"{field}prompt", body.prompt)
    model = await models.resolve(store, f"{field}model", body.model)
    return ReleaseSpec(
        id=release_id, model=model, prompt=prompt, params=body.params, artifacts=body.artifacts
    )


def _prompt_ref(release: ReleaseSpec) -> str | None:
    return release.prompt.ref if release.prompt else None


def changes(candidate: ReleaseSpec, stable: ReleaseSpec | None) -> list[str]:
    """Which aspects differ from the stable release (all of them when there is none)."""
    if stable is None:
        return list(CHANGE_ASPECTS)
    found: list[str] = []
    if _prompt_ref(candidate) != _prompt_ref(stable):
        found.append("prompt")
    if candidate.model.ref != stable.model.ref:
        found.append("model")
    if candidate.params != stable.params:
        found.append("params")
    if candidate.artifacts != stable.artifacts:
        found.append("artifacts")
    return found


def change_type(found: list[str], *, is_stable: bool = False) -> str:
    """One word: stable, none, prompt, model, params, artifacts or several."""
    if is_stable:
        return "stable"
    if not found:
        return "none"
    return found[0] if len(found) == 1 else "several"


def same_content(a: ReleaseSpec, b: ReleaseSpec) -> bool:
    """Same prompt version, model version, params and artifacts (ids aside)."""
    return not changes(a, b)

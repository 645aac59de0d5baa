"""`turnout apply -f registry.toml`: make the registry hold what the file declares, through the
admin API. New versions only where content changed (the API is idempotent on content); a route
gets a new release only when none of its releases matches; live weights are never moved.
"""

from typing import Any

import msgspec

from control.cli.client import AdminClient, ApiError
from control.registry import models, prompts, providers
from control.registry.declared import Declared, RouteEntry
from control.registry.releases import ReleaseIn
from control.routes import views
from control.routes.changes import RouteIn

REASON = "turnout apply"


class Change(msgspec.Struct, frozen=True):
    kind: str  # provider, prompt, model, route, release
    name: str
    action: str  # created, updated, unchanged, note
    detail: str = ""


Version = prompts.PromptVersion | models.ModelVersion


def _versions(
    client: AdminClient, kind: str, entries: dict[str, Any], reply: type[Version]
) -> tuple[dict[str, str], list[Change]]:
    refs: dict[str, str] = {}
    changes: list[Change] = []
    for name, entry in entries.items():
        answer = client.call("POST", f"/admin/{kind}s/{name}/versions", entry, reply=reply)
        refs[name] = answer.ref
        changes.append(Change(kind, answer.ref, "created" if answer.created else "unchanged"))
    return refs, changes


def _providers(client: AdminClient, declared: Declared) -> list[Change]:
    changes: list[Change] = []
    for name, entry in declared.providers.items():
        body = msgspec.structs.replace(entry, reason=entry.reason or REASON)
        answer = client.call("PUT", f"/admin/providers/{name}", body, reply=providers.ProviderOut)
        action = "created" if answer.created else "updated" if answer.changed else "unchanged"
        changes.append(Change("provider", name, action))
    return changes


def _release_body(
    entry: RouteEntry, prompt_refs: dict[str, str], model_refs: dict[str, str]
) -> ReleaseIn:
    return ReleaseIn(
        model=model_refs.get(entry.model, entry.model),
        prompt=prompt_refs.get(entry.prompt, entry.prompt) if entry.prompt else None,
        params=entry.params,
        artifacts=entry.artifacts,
        note=entry.note,
    )


def _matches(release: views.ReleaseOut, wanted: ReleaseIn) -> bool:
    prompt = release.prompt.ref if release.prompt else None
    return (
        prompt == wanted.prompt
        and release.model.ref == wanted.model
        and release.params == wanted.params
        and release.artifacts == wanted.artifacts
    )


def _route(client: AdminClient, name: str, entry: RouteEntry, wanted: ReleaseIn) -> list[Change]:
    try:
        route = client.call("GET", f"/admin/routes/{name}", reply=views.RouteOut)
    except ApiError as error:
        if error.status != 404:
            raise
        body = RouteIn(name=name, release=wanted, sticky=entry.sticky, reason=REASON)
        client.call("POST", "/admin/routes", body, reply=views.RouteOut)
        return [Change("route", name, "created", "r1 at 100%")]
    changes: list[Change] = []
    if route.sticky != entry.sticky:
        changes.append(Change("route", name, "note", "sticky differs; apply does not change it"))
    match = next((r for r in route.releases if _matches(r, wanted)), None)
    if match is not None:
        weight = "" if match.id == route.stable else f" (not stable, at {match.weight:g}%)"
        changes.append(Change("release", f"{name}/{match.id}", "unchanged", weight.strip()))
        return changes
    created = client.call(
        "POST", f"/admin/routes/{name}/releases", wanted, reply=views.ReleaseCreated
    ).release
    changes.append(
        Change(
            "release",
            f"{name}/{created.id}",
            "created",
            f"change: {created.change_type}; at 0% until you move traffic",
        )
    )
    return changes


def apply(client: AdminClient, declared: Declared) -> list[Change]:
    changes = _providers(client, declared)
    prompt_refs, prompt_changes = _versions(
        client, "prompt", declared.prompts, prompts.PromptVersion
    )
    model_refs, model_changes = _versions(client, "model", declared.models, models.ModelVersion)
    changes += prompt_changes + model_changes
    for name, entry in declared.routes.items():
        changes += _route(client, name, entry, _release_body(entry, prompt_refs, model_refs))
    return changes

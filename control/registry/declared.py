"""The declarative registry file (`registry.toml`): its shape and the offline checks of
`turnout lint` (schema, names, references, templates). Pure: no Redis, no network.

    [providers.openai]   base_url, api_key_env, timeout_s, max_connections
    [prompts.support]    system, messages, variables, note
    [models.gpt]         provider, upstream_model, params, prices, note
    [routes.support-bot] prompt, model, params, artifacts, note, sticky

A route's `prompt` and `model` name an entry of this file, or pin an existing version (`gpt@2`).
"""

import tomllib
from typing import Any

import msgspec

from control.errors import BadInput, from_validation
from control.registry import models, prompts, providers, rules


class RouteEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The release a route should serve; `turnout apply` adds it when no release matches."""

    model: str
    prompt: str | None = None
    params: dict[str, Any] = {}
    artifacts: dict[str, str] = {}
    note: str = ""
    sticky: bool = True  # used when the route is created


class Declared(msgspec.Struct, frozen=True):
    providers: dict[str, providers.ProviderIn]
    prompts: dict[str, prompts.PromptIn]
    models: dict[str, models.ModelIn]
    routes: dict[str, RouteEntry]


class Problem(msgspec.Struct, frozen=True):
    where: str  # e.g. "routes.support-bot.model"
    message: str  # the rule broken


SECTIONS: dict[str, Any] = {
    "providers": providers.ProviderIn,
    "prompts": prompts.PromptIn,
    "models": models.ModelIn,
    "routes": RouteEntry,
}


def _problem(where: str, error: BadInput) -> Problem:
    field = error.field or ""
    message = error.message.removeprefix(f"{field}: ") if field else error.message
    return Problem(f"{where}.{field}" if field else where, message)


def _check_reference(kind: str, ref: str, defined: dict[str, Any], field: str) -> None:
    if "@" in ref:
        rules.parse_ref(field, ref)  # a pinned version: its existence is checked by apply
    elif ref not in defined:
        raise BadInput(
            f"{field}: {kind} {ref!r} is not defined in [{kind}s] (or pin a version: '{ref}@1')",
            field=field,
        )


def _check_entry(section: str, name: str, entry: Any, declared: dict[str, dict[str, Any]]) -> None:
    rules.check_name("name", name)
    if section == "providers":
        providers.spec(name, entry)
    elif section == "prompts":
        prompts.validate(name, entry)
    elif section == "models":
        models.validate(name, entry)
        if entry.provider not in declared["providers"]:
            raise BadInput(
                f"provider: provider {entry.provider!r} is not defined in [providers]",
                field="provider",
            )
    else:
        rules.check_params("params", entry.params)
        _check_reference("model", entry.model, declared["models"], "model")
        if entry.prompt is not None:
            _check_reference("prompt", entry.prompt, declared["prompts"], "prompt")


def parse(text: str) -> tuple[Declared, list[Problem]]:
    """The file's entries that decoded, and every problem found (empty when the file is good)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return Declared({}, {}, {}, {}), [Problem("file", f"not valid TOML: {error}")]
    problems = [
        Problem(key, f"unknown section (expected {', '.join(SECTIONS)})")
        for key in data
        if key not in SECTIONS
    ]
    decoded: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for section, shape in SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            problems.append(Problem(section, "must be a table of named entries"))
            continue
        for name, entry in table.items():
            try:
                decoded[section][name] = msgspec.convert(entry, shape)
            except msgspec.ValidationError as error:
                problems.append(_problem(f"{section}.{name}", from_validation(error)))
    for section, entries in decoded.items():
        for name, entry in list(entries.items()):
            try:
                _check_entry(section, name, entry, decoded)
            except BadInput as error:
                problems.append(_problem(f"{section}.{name}", error))
    declared = Declared(
        providers=decoded["providers"],
        prompts=decoded["prompts"],
        models=decoded["models"],
        routes=decoded["routes"],
    )
    return declared, problems

"""What a restore checks of a file before it writes anything: names and version records,
the releases' references to them, windows, review items and webhooks. Pure: no Redis here.

A problem is a 400 naming its place in the file (`export.models.chat.2: …`), so a hand-edited
or damaged file is refused whole, never half restored.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from control.errors import BROKEN_RULE, UNKNOWN_REFERENCE, BadInput
from control.notify.model import Webhook, WebhookIn
from control.notify.model import build as build_webhook
from control.registry import rules, versions
from control.registry.models import ModelRecord
from control.registry.prompts import PromptRecord
from control.reviews.model import Review
from control.windows.model import Window, WindowIn
from control.windows.model import build as build_window
from gateway.contract.snapshot import ModelSpec, PromptSpec, ReleaseSpec

if TYPE_CHECKING:
    from control.backup.seed import Seed

T = TypeVar("T")
_PATH = re.compile(r" - at `\$\.(.+)`$")
_REVIEW_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # an audit entry's stream id


def _bad(field: str, problem: str, code: str = BROKEN_RULE) -> BadInput:
    return BadInput(f"{field}: {problem}", field=field, code=code)


@contextmanager
def _within(field: str) -> Iterator[None]:
    """A rule's BadInput ("url: must be …"), restated at its place in the file."""
    try:
        yield
    except BadInput as error:
        inner = error.field
        if inner and error.message.startswith(f"{inner}: "):
            message = f"{field}.{error.message}"
            raise BadInput(message, field=f"{field}.{inner}", code=error.code) from None
        raise BadInput(f"{field}: {error.message}", field=field, code=error.code) from None


def _prompt_hash(prompt: PromptRecord | PromptSpec) -> str:
    return versions.content_hash([prompt.system, prompt.messages])  # as the registry hashes it


def _model_hash(model: ModelRecord | ModelSpec) -> str:
    return versions.content_hash(
        [
            model.provider,
            model.upstream_model,
            model.params,
            model.input_usd_per_mtok,
            model.output_usd_per_mtok,
        ]
    )


def check_versions(plan: "Seed", source: str) -> None:
    providers = plan.provider_names
    for name, numbered in plan.prompts.items():
        rules.check_name(f"{source}.prompts.{name}", name)
        for number, prompt in numbered.items():
            field = f"{source}.prompts.{name}.{number}"
            _number(field, number)
            with _within(field):
                found = rules.prompt_variables(prompt.system, prompt.messages, None)
            if prompt.variables != found:
                raise _bad(f"{field}.variables", f"must be {found} (the template's placeholders)")
            if prompt.content_hash != _prompt_hash(prompt):
                raise _bad(f"{field}.content_hash", "does not match the version's content")
    for name, models in plan.models.items():
        rules.check_name(f"{source}.models.{name}", name)
        for number, model in models.items():
            field = f"{source}.models.{name}.{number}"
            _number(field, number)
            rules.check_name(f"{field}.provider", model.provider)
            rules.check_params(f"{field}.params", model.params)
            if source == "export" and model.provider not in providers:
                raise _bad(
                    f"{field}.provider",
                    f"unknown provider {model.provider!r} (not among the file's providers)",
                    UNKNOWN_REFERENCE,
                )
            if model.content_hash != _model_hash(model):
                raise _bad(f"{field}.content_hash", "does not match the version's content")


def _number(field: str, number: int) -> None:
    if number < 1:
        raise _bad(field, f"version numbers start at 1, not {number}")


def check_release(plan: "Seed", field: str, release: ReleaseSpec) -> None:
    """A release embeds the versions it names: they must be in the file, with that content."""
    model = _named(plan.models, f"{field}.model", release.model.ref)
    if _model_hash(release.model) != model.content_hash:
        raise _bad(f"{field}.model", f"differs from the version {release.model.ref} in the file")
    if release.prompt is None:
        return
    prompt = _named(plan.prompts, f"{field}.prompt", release.prompt.ref)
    if _prompt_hash(release.prompt) != prompt.content_hash:
        raise _bad(f"{field}.prompt", f"differs from the version {release.prompt.ref} in the file")


def _named(records: dict[str, dict[int, T]], field: str, ref: str) -> T:
    name, number = rules.parse_ref(f"{field}.ref", ref)
    found = records.get(name, {}).get(number)
    if found is None:
        raise _bad(f"{field}.ref", f"{ref} is not among the file's versions", UNKNOWN_REFERENCE)
    return found


def check_operations(plan: "Seed", source: str) -> None:
    """Windows, review items and webhooks: each as its admin endpoint would accept it."""
    for window in plan.windows:
        field = f"{source}.windows.{window.name}"
        rules.check_name(field, window.name)
        _route(plan, f"{field}.route", window.route)
        _window_rules(field, window)
    for route, items in plan.reviews.items():
        _route(plan, f"{source}.reviews.{route}", route)
        for item in items:
            _review(f"{source}.reviews.{route}.{item.id}", route, item)
    for hook in plan.webhooks:
        field = f"{source}.webhooks.{hook.name}"
        rules.check_name(field, hook.name)
        _webhook_rules(field, hook)


def _route(plan: "Seed", field: str, route: str | None) -> None:
    if route is not None and route not in plan.routes:
        raise _bad(field, f"route {route!r} is not among the file's routes", UNKNOWN_REFERENCE)


def _as(field: str, value: dict[str, Any], shape: type[T]) -> T:
    """`value` as the admin endpoint's body type, with its constraints (ranges, patterns)."""
    try:
        return msgspec.convert(value, shape)
    except msgspec.ValidationError as error:
        found = _PATH.search(str(error))  # "… - at `$.events[0]`": name the field itself
        where = f"{field}.{found.group(1)}" if found else field
        raise BadInput(f"{where}: {_PATH.sub('', str(error))}", field=where) from None


def _window_rules(field: str, window: Window) -> None:
    keep = ("kind", "route", "reason", "start", "end", "recurring")
    fields = {k: v for k, v in msgspec.structs.asdict(window).items() if k in keep}
    body = _as(field, fields, WindowIn)
    now = window.start or window.created_at or datetime.now(UTC)
    with _within(field):
        build_window(window.name, body, actor=window.author, now=now)


def _review(field: str, route: str, item: Review) -> None:
    if not _REVIEW_ID.fullmatch(item.id):
        raise _bad(field, "a review id is its change's audit entry id, like '1700000000000-0'")
    if item.route != route:
        raise _bad(f"{field}.route", f"is {item.route!r}, listed under route {route!r}")
    if item.status != "open":
        raise _bad(f"{field}.status", "only open review items are restored")


def _webhook_rules(field: str, hook: Webhook) -> None:
    fields = msgspec.structs.asdict(hook)
    del fields["name"], fields["author"]
    body = _as(field, fields, WebhookIn)
    with _within(field):
        build_webhook(hook.name, body, hook.author)

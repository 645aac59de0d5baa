"""Pure validation rules shared by the admin API and `turnout lint`: names, references, URLs,
templates and parameters. Each failure is a `BadInput` naming the field and the rule. No I/O.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from control.errors import BadInput
from gateway.contract.snapshot import PromptMessage, key_env_refusal
from gateway.contract.templates import TemplateSyntaxError, template_variables

NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REF = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})@([1-9][0-9]{0,8})$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_API_VERSION = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-[A-Za-z0-9.]{1,32})?$")

PROMPT_ROLES = ("system", "developer", "user", "assistant")
# Release and model params are merged into the caller's body; these keys would replace what the
# caller asked for (or what the gateway sets), so no version may carry them.
RESERVED_PARAMS = ("model", "messages", "input", "stream", "prompt_variables")


def check_name(field: str, name: str) -> str:
    if not _NAME.match(name):
        raise BadInput(f"{field}: {name!r} is not a valid name ({NAME_RULE})", field=field)
    return name


def parse_ref(field: str, ref: str) -> tuple[str, int]:
    """A version reference `name@N` (N from 1)."""
    match = _REF.match(ref)
    if not match:
        raise BadInput(f"{field}: {ref!r} must be a version reference like 'name@3'", field=field)
    return match.group(1), int(match.group(2))


def check_base_url(field: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{field}: {url!r} must be an http:// or https:// URL", field=field)
    if parts.username is not None or parts.password is not None:
        raise BadInput(
            f"{field}: credentials in the URL are not allowed; put the key in the variable "
            "named by api_key_env",
            field=field,
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in 0..65535
    except ValueError:
        raise BadInput(f"{field}: {url!r} has an invalid port", field=field) from None


def check_api_version(field: str, kind: str, version: str | None) -> None:
    """Azure OpenAI needs its `api-version`; no other kind takes one."""
    if kind == "azure_openai":
        if version is None or not _API_VERSION.match(version):
            raise BadInput(
                f"{field}: an azure_openai provider needs its api-version, like '2024-10-21'",
                field=field,
            )
    elif version is not None:
        raise BadInput(f"{field}: only an azure_openai provider takes an api_version", field=field)


def check_file_path(field: str, path: str | None) -> None:
    """An absolute path on the gateway hosts (read by each gateway, not here)."""
    if path is None:
        return
    if not path.startswith("/") or "\x00" in path or len(path) > 4096:
        raise BadInput(f"{field}: must be an absolute file path on the gateway hosts", field=field)


def check_env_name(field: str, name: str | None) -> None:
    if name is None:
        return
    if not _ENV_NAME.match(name):
        raise BadInput(
            f"{field}: must be the name of an environment variable (letters, digits, _), "
            "never the key itself",
            field=field,
        )
    refusal = key_env_refusal(name)
    if refusal is not None:
        raise BadInput(f"{field}: {refusal}", field=field)


def check_params(field: str, params: Mapping[str, Any]) -> None:
    for key in params:
        if key in RESERVED_PARAMS:
            raise BadInput(
                f"{field}.{key}: {key!r} may not be set by a version (reserved: "
                f"{', '.join(RESERVED_PARAMS)})",
                field=f"{field}.{key}",
            )


def prompt_variables(
    system: str | None, messages: Sequence[PromptMessage], declared: Sequence[str] | None
) -> list[str]:
    """The template's variables in first-seen order, checked against `declared` when given."""
    if system is None and not messages:
        raise BadInput("system: a prompt needs a system text or messages", field="system")
    texts: list[tuple[str, str]] = []
    if system is not None:
        texts.append(("system", system))
    for index, message in enumerate(messages):
        if message.role not in PROMPT_ROLES:
            field = f"messages[{index}].role"
            raise BadInput(f"{field}: must be one of {', '.join(PROMPT_ROLES)}", field=field)
        texts.append((f"messages[{index}].content", message.content))
    found: list[str] = []
    for field, text in texts:
        try:
            found.extend(template_variables(text))
        except TemplateSyntaxError as error:
            raise BadInput(f"{field}: {error}", field=field) from None
    found = list(dict.fromkeys(found))
    if declared is not None:
        undefined = [name for name in found if name not in declared]
        if undefined:
            raise BadInput(
                f"variables: the template uses {{{{{undefined[0]}}}}}, which is not declared",
                field="variables",
            )
        unused = [name for name in declared if name not in found]
        if unused:
            raise BadInput(
                f"variables: {unused[0]!r} is declared but the template never uses it",
                field="variables",
            )
    return found

"""Pure validation rules shared by the admin API and `turnout lint`: names, references, URLs,
templates and parameters. Each failure is a `BadInput` naming the field and the rule. No I/O.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from control.errors import BROKEN_RULE, BadInput
from gateway.contract.snapshot import PROMPT_ROLES, PromptMessage, key_env_refusal
from gateway.contract.templates import TemplateSyntaxError, template_variables

NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
# Each rule that JSON Schema can state is one pattern, checked here with `fullmatch` and
# published in the OpenAPI document (anchored) through the annotated types below, so the
# document is never looser than the server. ASCII classes only: the same in Python and ECMA.
NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
VERSION_PATTERN = "[1-9][0-9]{0,8}"
REF_PATTERN = f"({NAME_PATTERN})@({VERSION_PATTERN})"
ENV_NAME_PATTERN = "[A-Za-z_][A-Za-z0-9_]{0,127}"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = "6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0"
# scheme, a host name or IPv4 address, an optional port, a path of RFC 3986 characters: no
# whitespace, CR/LF or other control characters, no credentials, query or fragment
BASE_URL_PATTERN = (
    f"https?://{_LABEL}(?:[.]{_LABEL})*(?::(?:{_PORT}))?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?"
)
BASE_URL_RULE = (
    "must be an http:// or https:// URL: a host name or IPv4 address, an optional port and a "
    "path, with no spaces, control characters, query or fragment"
)


def anchored(pattern: str) -> str:
    """The pattern as JSON Schema states it (ECMA regexes search; `fullmatch` here does not)."""
    return f"^(?:{pattern})$"


_NAME = re.compile(NAME_PATTERN)
_REF = re.compile(REF_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_ENV_NAME = re.compile(ENV_NAME_PATTERN)
_BASE_URL = re.compile(BASE_URL_PATTERN)

Name = Annotated[str, msgspec.Meta(extra_json_schema={"pattern": anchored(NAME_PATTERN)})]
VersionRef = Annotated[
    str,
    msgspec.Meta(
        description="a version, name@N", extra_json_schema={"pattern": anchored(REF_PATTERN)}
    ),
]
BaseUrl = Annotated[
    str,
    msgspec.Meta(
        description=f"the provider's API root; {BASE_URL_RULE}",
        extra_json_schema={"pattern": anchored(BASE_URL_PATTERN)},
    ),
]
KeyEnvName = Annotated[
    str,
    msgspec.Meta(
        description="the name of the environment variable holding the key (never the key); "
        "not a Turnout setting",
        extra_json_schema={
            "pattern": anchored(ENV_NAME_PATTERN),
            "not": {"pattern": "^(?:TURNOUT_|REDIS_URL$)"},
        },
    ),
]

# Release and model params are merged into the caller's body; these keys would replace what the
# caller asked for (or what the gateway sets), so no version may carry them.
RESERVED_PARAMS = ("model", "messages", "input", "stream", "prompt_variables")
Params = Annotated[
    dict[str, Any],
    msgspec.Meta(
        extra_json_schema={"propertyNames": {"not": {"enum": list(RESERVED_PARAMS)}}},
    ),
]


def check_name(field: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BadInput(f"{field}: {name!r} is not a valid name ({NAME_RULE})", field=field)
    return name


def parse_ref(field: str, ref: str) -> tuple[str, int]:
    """A version reference `name@N` (N from 1)."""
    match = _REF.fullmatch(ref)
    if not match:
        raise BadInput(f"{field}: {ref!r} must be a version reference like 'name@3'", field=field)
    return match.group(1), int(match.group(2))


def is_version_number(text: str) -> bool:
    return _VERSION.fullmatch(text) is not None


def check_base_url(field: str, url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        raise BadInput(f"{field}: {url!r} {BASE_URL_RULE}", field=field) from None
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
    if not _BASE_URL.fullmatch(url):
        raise BadInput(f"{field}: {url!r} {BASE_URL_RULE}", field=field)


def check_env_name(field: str, name: str | None) -> None:
    if name is None:
        return
    if not _ENV_NAME.fullmatch(name):
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
        raise BadInput(
            "system: a prompt needs a system text or messages", field="system", code=BROKEN_RULE
        )
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
            raise BadInput(f"{field}: {error}", field=field, code=BROKEN_RULE) from None
    found = list(dict.fromkeys(found))
    if declared is not None:
        undefined = [name for name in found if name not in declared]
        if undefined:
            raise BadInput(
                f"variables: the template uses {{{{{undefined[0]}}}}}, which is not declared",
                field="variables",
                code=BROKEN_RULE,
            )
        unused = [name for name in declared if name not in found]
        if unused:
            raise BadInput(
                f"variables: {unused[0]!r} is declared but the template never uses it",
                field="variables",
                code=BROKEN_RULE,
            )
    return found

"""The one settings loader of every Turnout process (gateway, control plane, `turnout up`).

A process declares its settings as a frozen msgspec Struct; `load` fills it from flags, then
`TURNOUT_<FIELD>` variables, then the Struct's defaults, and fails with one clear line. Both
planes use it, so a variable means the same everywhere. Reads the environment; no other I/O.
"""

import os
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """Bad start-up configuration: reported as one line, exit 1."""


def env_name(field: str, renamed: Mapping[str, str] | None = None) -> str:
    """The variable that sets `field`: `TURNOUT_<FIELD>` unless the process renames it."""
    return (renamed or {}).get(field, f"TURNOUT_{field.upper()}")


def load(
    settings_type: type[S],
    flags: Mapping[str, Any],
    *,
    renamed: Mapping[str, str] | None = None,
) -> S:
    """Flags (None = not given) over variables over defaults.

    `renamed` maps a field to the variable that sets it when it is not `TURNOUT_<FIELD>` (the
    admin API's `port` is `TURNOUT_ADMIN_PORT`, as the gateway's is `TURNOUT_PORT`).
    `REDIS_URL` is honoured when `TURNOUT_REDIS_URL` is unset. Flags with no field are refused:
    a typo in a caller must not silently fall back to a default.
    """
    fields = set(settings_type.__struct_fields__)
    unknown = set(flags) - fields
    if unknown:
        raise TypeError(f"{settings_type.__name__} has no setting {sorted(unknown)}")
    raw: dict[str, Any] = {}
    for name in fields:
        value = os.environ.get(env_name(name, renamed))
        if value is not None:
            raw[name] = value
    if "redis_url" in fields and "redis_url" not in raw and os.environ.get("REDIS_URL"):
        raw["redis_url"] = os.environ["REDIS_URL"]
    raw.update({name: value for name, value in flags.items() if value is not None})
    try:
        return msgspec.convert(raw, settings_type, strict=False)
    except msgspec.ValidationError as error:
        raise SettingsError(f"invalid setting: {_named(error, renamed)}") from None


def _named(error: msgspec.ValidationError, renamed: Mapping[str, str] | None) -> str:
    """msgspec says `$.port`; the user set TURNOUT_PORT or --port: name both."""
    message = str(error)
    marker = " - at `$."
    if marker not in message:
        return message
    field = message.rsplit(marker, 1)[1].rstrip("`")
    return f"{message} (set by {env_name(field, renamed)} or its flag)"

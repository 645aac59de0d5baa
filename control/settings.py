"""Control-plane settings: typed, loaded once from flags and `TURNOUT_*` variables.

`admin_tokens` holds secrets (`TURNOUT_ADMIN_TOKENS`) and is redacted from every repr.
"""

import os
from typing import Annotated, Any

import msgspec


class ControlSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    redis_url: str
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8081
    data_dir: str = "./data"
    admin_tokens: str = ""  # TURNOUT_ADMIN_TOKENS: "name:role:token", comma-separated
    audit_max_entries: Annotated[int, msgspec.Meta(ge=100)] = 100_000  # per stream, trimmed ~
    webhook_poll_s: Annotated[float, msgspec.Meta(gt=0)] = 0.5  # audit streams -> outbox, sends
    webhook_retry_base_s: Annotated[float, msgspec.Meta(gt=0)] = 2.0  # first retry's delay
    webhook_retry_max_s: Annotated[float, msgspec.Meta(gt=0)] = 600.0  # longest retry delay

    def __repr__(self) -> str:  # admin_tokens holds secrets
        return f"ControlSettings(host={self.host!r}, port={self.port})"


class SettingsError(ValueError):
    """Bad start-up configuration: reported as one line, exit 1."""


# TURNOUT_PORT is the gateway's port; the admin API's is TURNOUT_ADMIN_PORT (as in `turnout up`).
_ENV_NAMES = {"port": "TURNOUT_ADMIN_PORT"}


def load_settings(flags: dict[str, Any]) -> ControlSettings:
    """Flags (None = not given) over `TURNOUT_<FIELD>` variables over defaults; one clear error.

    `REDIS_URL` is honoured as well as `TURNOUT_REDIS_URL`; admin tokens come only from the
    environment, never from a flag (flags show up in process listings).
    """
    raw: dict[str, Any] = {}
    for name in ControlSettings.__struct_fields__:
        value = os.environ.get(_ENV_NAMES.get(name, f"TURNOUT_{name.upper()}"))
        if value is not None:
            raw[name] = value
    if "redis_url" not in raw and os.environ.get("REDIS_URL"):
        raw["redis_url"] = os.environ["REDIS_URL"]
    raw.update({k: v for k, v in flags.items() if v is not None})
    if not raw.get("redis_url"):
        raise SettingsError("no Redis: set REDIS_URL or --redis-url")
    try:
        settings = msgspec.convert(raw, ControlSettings, strict=False)
    except msgspec.ValidationError as error:
        raise SettingsError(f"invalid setting: {error}") from None
    return settings

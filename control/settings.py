"""Control-plane settings: typed, loaded once from flags and `TURNOUT_*` variables.

`admin_tokens` holds secrets (`TURNOUT_ADMIN_TOKENS`) and is redacted from every repr.
"""

import os
from typing import Annotated, Any

import msgspec

from gateway.contract.settings import SettingsError, load


class ControlSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    redis_url: str
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8081
    data_dir: str = "./data"
    admin_tokens: str = ""  # TURNOUT_ADMIN_TOKENS: "name:role:token", comma-separated
    audit_max_entries: Annotated[int, msgspec.Meta(ge=100)] = 100_000  # per stream, trimmed ~

    def __repr__(self) -> str:  # admin_tokens holds secrets
        return f"ControlSettings(host={self.host!r}, port={self.port})"


# TURNOUT_PORT is the gateway's port; the admin API's is TURNOUT_ADMIN_PORT (as in `turnout up`).
ENV_NAMES = {"port": "TURNOUT_ADMIN_PORT"}


def load_settings(flags: dict[str, Any]) -> ControlSettings:
    """Flags (None = not given) over `TURNOUT_<FIELD>` variables over defaults; one clear error
    (`gateway.contract.settings.load`, shared with the gateway).

    Admin tokens come only from the environment (or `turnout up`'s generated one), never from a
    command-line flag: flags show up in process listings.
    """
    settings_env = ("TURNOUT_REDIS_URL", "REDIS_URL")
    if not (flags.get("redis_url") or any(os.environ.get(name) for name in settings_env)):
        raise SettingsError("no Redis: set REDIS_URL or --redis-url")
    return load(ControlSettings, flags, renamed=ENV_NAMES)

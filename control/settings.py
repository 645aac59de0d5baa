"""Control-plane settings: typed, loaded once from flags and `TURNOUT_*` variables.

`admin_tokens` holds secrets (`TURNOUT_ADMIN_TOKENS`) and is redacted from every repr.
"""

from typing import Annotated

import msgspec


class ControlSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    redis_url: str
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8081
    data_dir: str = "./data"
    admin_tokens: str = ""  # TURNOUT_ADMIN_TOKENS: "name:role:token", comma-separated
    audit_max_entries: Annotated[int, msgspec.Meta(ge=100)] = 100_000  # per stream, trimmed ~

    def __repr__(self) -> str:  # admin_tokens holds secrets
        return f"ControlSettings(host={self.host!r}, port={self.port})"


class SettingsError(ValueError):
    """Bad start-up configuration: reported as one line, exit 1."""

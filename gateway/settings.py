"""Gateway settings: typed, loaded once from flags and `TURNOUT_*` variables, failing fast."""

from pathlib import Path
from typing import Annotated, Any

import msgspec

from gateway.contract.settings import SettingsError, load
from gateway.telemetry.recorder import DEFAULT_CALL_QUEUE_LIMIT
from gateway.upstream.exchange import DEFAULT_BODY_LIMIT_BYTES as DEFAULT_UPSTREAM_BODY_LIMIT

DEFAULT_BODY_LIMIT_BYTES = 10 * 1024 * 1024


class ClientKey(msgspec.Struct, frozen=True):
    app: str
    may_pin: bool  # may force a release with X-Turnout-Release


class GatewaySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    redis_url: str | None = None
    data_dir: str = "./data"
    workers: Annotated[int, msgspec.Meta(ge=1, le=256)] = 1
    body_limit_bytes: Annotated[int, msgspec.Meta(ge=1024)] = DEFAULT_BODY_LIMIT_BYTES
    # a buffered (non-streaming) upstream answer larger than this is refused with a 502
    upstream_body_limit_bytes: Annotated[int, msgspec.Meta(ge=1024, le=2**40)] = (
        DEFAULT_UPSTREAM_BODY_LIMIT
    )
    poll_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    api_keys: str = ""  # TURNOUT_API_KEYS: "app:token" or "app:pin:token", comma-separated
    flush_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0  # telemetry batches to Redis
    call_ttl_s: Annotated[int, msgspec.Meta(ge=60)] = 7 * 24 * 3600  # feedback attribution window
    call_queue_limit: Annotated[int, msgspec.Meta(ge=0)] = DEFAULT_CALL_QUEUE_LIMIT

    def __repr__(self) -> str:  # api_keys holds secrets
        return f"GatewaySettings(host={self.host!r}, port={self.port}, workers={self.workers})"

    @property
    def snapshot_file(self) -> Path:
        return Path(self.data_dir) / "snapshot.json"

    def client_keys(self) -> dict[str, ClientKey]:
        return parse_client_keys(self.api_keys)


def parse_client_keys(text: str) -> dict[str, ClientKey]:
    keys: dict[str, ClientKey] = {}
    for index, entry in enumerate(filter(None, (e.strip() for e in text.split(",")))):
        parts = entry.split(":")
        if len(parts) == 2 and all(parts):
            keys[parts[1]] = ClientKey(app=parts[0], may_pin=False)
        elif len(parts) == 3 and all(parts) and parts[1] in ("pin", "call"):
            keys[parts[2]] = ClientKey(app=parts[0], may_pin=parts[1] == "pin")
        else:
            raise SettingsError(
                f"TURNOUT_API_KEYS entry {index + 1} must be 'app:token' or 'app:pin:token'"
            )
    return keys


def load_settings(flags: dict[str, Any]) -> GatewaySettings:
    """Flags (None = not given) over `TURNOUT_<FIELD>` variables over defaults; one clear error
    (`gateway.contract.settings.load`, shared with the control plane)."""
    settings = load(GatewaySettings, flags)
    settings.client_keys()  # fail fast on malformed TURNOUT_API_KEYS
    return settings

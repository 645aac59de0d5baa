"""Control-plane settings: typed, loaded once from flags and `TURNOUT_*` variables.

`admin_tokens` holds secrets (`TURNOUT_ADMIN_TOKENS`) and is redacted from every repr.
"""

import os
from typing import Annotated, Any

import msgspec

from control.rollout.model import Policy
from control.rollout.policy import DEFAULT_POLICIES
from gateway.contract.settings import SettingsError, env_name, load


def default_policies() -> dict[str, Policy]:
    return dict(DEFAULT_POLICIES)


class ControlSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    redis_url: str
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8081
    data_dir: str = "./data"
    admin_tokens: str = ""  # TURNOUT_ADMIN_TOKENS: "name:role:token", comma-separated
    audit_max_entries: Annotated[int, msgspec.Meta(ge=100)] = 100_000  # per stream, trimmed ~
    # The rollout controller: one leader among the replicas (a Redis lease), a look per tick.
    controller: bool = True  # take part in the leader election and run rollouts
    rollout_tick_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0  # <= telemetry flush
    lease_ms: Annotated[int, msgspec.Meta(ge=200, le=600_000)] = 5000  # failover within this
    rollout_settle_s: Annotated[float, msgspec.Meta(ge=0, le=600)] = 2.0  # after a flip, before
    # the sample-ratio check (gateways apply it in ms; counts arrive one flush later)
    rollout_policies: dict[str, Policy] = msgspec.field(default_factory=default_policies)

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
    policies = os.environ.get(env_name("rollout_policies"))
    if flags.get("rollout_policies") is None and policies:  # JSON: change type -> Policy
        try:
            flags = {**flags, "rollout_policies": msgspec.json.decode(policies)}
        except msgspec.DecodeError as error:
            raise SettingsError(
                f"invalid setting rollout_policies ({env_name('rollout_policies')}): {error}"
            ) from None
    return load(ControlSettings, flags, renamed=ENV_NAMES)

"""Per-process gateway state, held on the aiohttp app under one AppKey (no module globals)."""

import logging
import random

from gateway.notices import Notices
from gateway.settings import ClientKey, GatewaySettings
from gateway.sync import SnapshotHolder
from gateway.telemetry.calls import CallIds
from gateway.telemetry.recorder import Recorder
from gateway.telemetry.store import TelemetryStore
from gateway.upstream.client import UpstreamClient


class GatewayContext:
    __slots__ = (
        "call_ids",
        "client",
        "client_keys",
        "holder",
        "notices",
        "recorder",
        "rng",
        "settings",
        "telemetry",
    )

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.recorder = Recorder(settings.call_queue_limit)
        self.holder = SnapshotHolder(self.recorder, settings.snapshot_file)
        self.client = UpstreamClient(settings.upstream_body_limit_bytes)
        self.rng = random.Random()
        self.client_keys: dict[str, ClientKey] = settings.client_keys()
        self.telemetry: TelemetryStore | None = None  # set at start-up when Redis is configured
        self.call_ids = CallIds()
        self.notices = Notices(logging.getLogger("turnout.gateway"))

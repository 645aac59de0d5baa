"""The gateway's Redis side of telemetry: the flusher and the feedback script, one per process."""

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from gateway.telemetry.flush import Flusher, load_lua
from gateway.telemetry.recorder import Recorder

FEEDBACK_LUA = load_lua("feedback.lua")  # read at import, never on the event loop


class TelemetryStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        recorder: Recorder,
        flush_interval_s: float,
        call_ttl_s: int,
        process: str,
    ) -> None:
        self.redis = redis
        self.flusher = Flusher(redis, recorder, flush_interval_s, process, call_ttl_s)
        self.feedback_script: AsyncScript = redis.register_script(FEEDBACK_LUA)

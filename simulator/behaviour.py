"""What the simulated provider does for a model: latency, failures, stalls. Plain data."""

from typing import Annotated

import msgspec

Millis = Annotated[float, msgspec.Meta(ge=0)]


class Behaviour(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    latency_ms: Millis = 0.0  # before the answer (non-streaming) or the first chunk
    latency_jitter_ms: Millis = 0.0  # uniform extra latency in [0, jitter), seeded per call
    status: int = 200  # every call fails with this status when not 200
    error_every: Annotated[int, msgspec.Meta(ge=0)] = 0  # every Nth call fails with error_status
    error_status: int = 500
    error_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0  # each call fails with
    # error_status with this probability (the simulator's seeded generator)
    latency_sigma: Annotated[float, msgspec.Meta(ge=0, le=3)] = 0.0  # log-normal latency:
    # latency_ms is the median, this the log-space standard deviation (seeded)
    chunk_delay_ms: Millis = 0.0  # between streamed chunks
    stall_ms: Millis = 0.0  # one long pause in a stream…
    stall_after_chunks: Annotated[int, msgspec.Meta(ge=0)] = 1  # …after this many chunks
    retry_after_s: int | None = None  # sent with 429 answers


class BehaviourUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of POST /_sim/behaviour: `model` "*" is the default for every model."""

    behaviour: Behaviour
    model: str = "*"

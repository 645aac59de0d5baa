"""Telemetry in Redis: key names, field names and records shared by gateways and the control plane.

Gateways add per-release counters into time-bucketed hashes of the route (`{route:NAME}` slot):
minute buckets kept `MINUTE_TTL_S`, hour buckets kept `HOUR_TTL_S`. A field is
`<release>|<counter>`; histograms use one field per non-empty bucket (`<release>|lat|<i>`).
"""

import msgspec

from gateway.contract.keys import PREFIX, route_tag

MINUTE_S = 60
HOUR_S = 3600
MINUTE_TTL_S = 2 * 24 * HOUR_S  # minute resolution for windows up to a day
HOUR_TTL_S = 8 * 24 * HOUR_S  # hour resolution for windows up to 7 days
DEFAULT_CALL_TTL_S = 7 * 24 * HOUR_S  # how long feedback can be attributed to a call

# Counter names inside a bucket hash (after "<release>|").
REQUESTS = "n"
OUTCOME = "o"  # "o|<outcome class>"
LATENCY = "lat"  # "lat|<bucket index>"
TTFT = "ttft"  # "ttft|<bucket index>"
TOKENS_IN = "tin"
TOKENS_OUT = "tout"
# Calls placed by their sticky key (a sticky route, a key given) rather than drawn per call or
# pinned: one user's calls share a release, so their split is judged by distinct keys.
KEYED = "kn"
FEEDBACK = "fb"  # feedback count (one per call, replacements not counted twice)
THUMBS_UP = "up"
THUMBS_DOWN = "down"
SCORES = "sn"  # number of scored feedbacks
SCORE_MICROS = "ssum"  # sum of scores in millionths (integers add exactly)
SCORE_SQ_MICROS = "ssq"  # sum of squared scores in millionths (for the score's variance)
STICKY_KEYS_PER_FLUSH = 10_000  # distinct sticky keys kept per release between flushes


def cost_usd(tokens_in: int, tokens_out: int, in_per_mtok: float, out_per_mtok: float) -> float:
    """Cost from token counts and a model version's prices per million tokens."""
    return (tokens_in * in_per_mtok + tokens_out * out_per_mtok) / 1_000_000


def minute_bucket(route: str, minute: int) -> str:
    """Hash for the minute starting at `minute * 60` (epoch seconds)."""
    return f"{route_tag(route)}:stats:m:{minute}"


def hour_bucket(route: str, hour: int) -> str:
    return f"{route_tag(route)}:stats:h:{hour}"


def sticky_keys_minute(route: str, release: str, minute: int) -> str:
    """HyperLogLog of the distinct sticky keys a release served in one minute."""
    return f"{route_tag(route)}:keys:m:{minute}:{release}"


def sticky_keys_hour(route: str, release: str, hour: int) -> str:
    return f"{route_tag(route)}:keys:h:{hour}:{release}"


def flush_guard(route: str, batch_id: str) -> str:
    """Set once a flush batch was applied, so a retried batch is never counted twice."""
    return f"{route_tag(route)}:flushed:{batch_id}"


def call_bucket(process: str, minute: int) -> str:
    """Hash of the calls one gateway process served in one minute: call number (hex) → CallRecord.

    One hash per process-minute, written with a few multi-field HSETs per flush, instead of one
    key per call.
    """
    return f"{PREFIX}:calls:{process}:{minute}"


def feedback_record(route: str, call_id: str) -> str:
    """Hash: the counted contributions (up, down, sn, ssum) and comment of a call's feedback."""
    return f"{route_tag(route)}:feedback:{call_id}"


def field(release: str, *parts: str | int) -> str:
    return "|".join((release, *map(str, parts)))


class CallRecord(msgspec.Struct, frozen=True, array_like=True):
    """Which release served a call (the minute is in the call id)."""

    route: str
    release: str

"""Durations and times as operators type them: "90s", "15m", "2h", "7d", or an ISO 8601 time.

The patterns are the rule: the server matches them in full, and the admin API's schema states
them, so both accept the same text. Pure.
"""

import re
from typing import Annotated

import msgspec

DURATION_PATTERN = "([0-9]{1,9})([smhd])"
ISO_TIME_PATTERN = (
    "[0-9]{4}-[0-9]{2}-[0-9]{2}"
    "(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.][0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_DURATION = re.compile(DURATION_PATTERN)
_ISO_TIME = re.compile(ISO_TIME_PATTERN)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Duration = Annotated[
    str,
    msgspec.Meta(
        description="a duration: digits and a unit, s, m, h or d (90s, 15m, 6h, 7d)",
        extra_json_schema={"pattern": f"^(?:{DURATION_PATTERN})$"},
    ),
]
DurationOrTime = Annotated[
    str,
    msgspec.Meta(
        description="a duration back from now (15m, 2h, 7d) or an ISO 8601 time (UTC unless "
        "it has an offset); a time that is not in the calendar is a 400 `broken_rule`",
        extra_json_schema={"pattern": f"^(?:{DURATION_PATTERN}|{ISO_TIME_PATTERN})$"},
    ),
]


def duration_s(text: str) -> int | None:
    """Seconds, or None when `text` is not a duration."""
    match = _DURATION.fullmatch(text)
    return int(match.group(1)) * _UNIT_S[match.group(2)] if match else None


def is_iso_time(text: str) -> bool:
    """Shaped like an ISO 8601 time (whether the calendar has it is for the parser to say)."""
    return _ISO_TIME.fullmatch(text) is not None

"""Durations and times as operators type them: "90s", "15m", "2h", "7d", or an ISO 8601 time;
and the RFC 3339 times of the documents the admin API reads back (a restore's export).

The patterns are the rule: the server matches them in full, and the admin API's schema states
them, so both accept the same text. Pure.
"""

import re
from datetime import datetime
from typing import Annotated

import msgspec

DURATION_PATTERN = "([0-9]{1,9})([smhd])"
ISO_TIME_PATTERN = (
    "[0-9]{4}-[0-9]{2}-[0-9]{2}"
    "(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.][0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
# Exactly the RFC 3339 times msgspec decodes into a `datetime` (days of the month and leap
# years included), which the admin API's schema states for every `Time` field: the
# document is then no looser, and no stricter, than the server.
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_HOUR = "(?:[01][0-9]|2[0-3])"
RFC3339_PATTERN = (
    f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
    f"[Tt ]{_HOUR}:[0-5][0-9]:[0-5][0-9](?:[.][0-9]+)?(?:[Zz]|[+-]{_HOUR}:?[0-5][0-9])?"
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

# msgspec's own schema of a datetime is a bare string; the fields we decode say what they take.
Time = Annotated[
    datetime,
    msgspec.Meta(
        description="an RFC 3339 time",
        extra_json_schema={"format": "date-time", "pattern": f"^(?:{RFC3339_PATTERN})$"},
    ),
]


def duration_s(text: str) -> int | None:
    """Seconds, or None when `text` is not a duration."""
    match = _DURATION.fullmatch(text)
    return int(match.group(1)) * _UNIT_S[match.group(2)] if match else None


def is_iso_time(text: str) -> bool:
    """Shaped like an ISO 8601 time (whether the calendar has it is for the parser to say)."""
    return _ISO_TIME.fullmatch(text) is not None

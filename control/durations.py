"""Durations as operators type them: "90s", "15m", "2h", "7d". Pure."""

import re

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(text: str) -> int | None:
    """Seconds, or None when `text` is not a duration."""
    match = _DURATION.match(text.strip())
    return int(match.group(1)) * _UNIT_S[match.group(2)] if match else None

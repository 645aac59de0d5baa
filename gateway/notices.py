"""Rate-limited warnings for conditions any caller or provider can cause at will.

A hostile client or a broken upstream must not be able to flood the log: each kind of notice is
written at most once per interval, with the number suppressed since. Counting is the job of the
metrics; this only says that it happens. No I/O other than logging.
"""

import logging
import time

DEFAULT_INTERVAL_S = 10.0


class Notices:
    """Per-kind log lines, at most one per `interval_s` each. Held on the gateway context."""

    __slots__ = ("_last", "_suppressed", "interval_s", "log")

    def __init__(self, log: logging.Logger, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.log = log
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: object, exc_info: bool = False) -> bool:
        """Log `message % args` unless `kind` was logged less than `interval_s` ago."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        suppressed = self._suppressed.pop(kind, 0)
        if suppressed:
            message += " (%d more like it since the last notice)"
            args = (*args, suppressed)
        self.log.warning(message, *args, exc_info=exc_info)
        return True

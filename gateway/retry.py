"""A route's retry policy as its gateways apply it: which failures are retried, how long to wait,
and the retry budget that keeps an outage from becoming a retry storm. Pure: the caller passes
the clock and the random source; no I/O here (`gateway.attempts` does the sending).
"""

import random
from email.utils import parsedate_to_datetime

from gateway.contract.snapshot import RetryPolicy
from gateway.telemetry.recorder import ReleaseStats

# Answers worth another attempt: rate limited, or the provider failing (529: Anthropic overloaded).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
WINDOW_SLOTS = 10  # the budget's sliding window: 10 slots of one second
RESERVE = 3  # retries a window allows whatever the traffic, so a quiet route can retry at all


class RetryBudget:
    """Per route and process: extra upstream calls (retries and fallbacks) over the last 10 s
    may not exceed RESERVE + budget_percent of the route's calls in that window."""

    __slots__ = ("_calls", "_extra", "_second", "exhausted")

    def __init__(self) -> None:
        self._calls = [0] * WINDOW_SLOTS
        self._extra = [0] * WINDOW_SLOTS
        self._second = 0
        self.exhausted = 0  # extra calls refused for want of budget

    def _advance(self, now_s: float) -> int:
        second = int(now_s)
        gap = second - self._second
        if gap:
            for step in range(1, min(gap, WINDOW_SLOTS) + 1):
                slot = (self._second + step) % WINDOW_SLOTS
                self._calls[slot] = 0
                self._extra[slot] = 0
            self._second = second
        return second % WINDOW_SLOTS

    def note_call(self, now_s: float) -> None:
        self._calls[self._advance(now_s)] += 1

    def take(self, now_s: float, percent: float) -> bool:
        """Spend one extra call if the window allows it."""
        slot = self._advance(now_s)
        allowed = RESERVE + percent / 100 * sum(self._calls)
        if sum(self._extra) + 1 > allowed:
            self.exhausted += 1
            return False
        self._extra[slot] += 1
        return True


class Retry:
    """The route's policy bound to its budget and one release's counters."""

    __slots__ = ("budget", "policy", "stats")

    def __init__(self, policy: RetryPolicy, budget: RetryBudget, stats: ReleaseStats) -> None:
        self.policy = policy
        self.budget = budget
        self.stats = stats

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Exponential from backoff_ms, jittered to [50%, 100%] so replicas do not align."""
        return float(self.policy.backoff_ms / 1000 * (2**attempt) * rng.uniform(0.5, 1.0))


def retry_after_s(value: str | None, now_epoch_s: float) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), None if absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - now_epoch_s, 0.0)


def retry_after_ms(value: str | None) -> float | None:
    """OpenAI's and Azure's `retry-after-ms`, in seconds."""
    if value is None:
        return None
    try:
        milliseconds = float(value)
    except ValueError:
        return None
    return milliseconds / 1000 if milliseconds >= 0 else None

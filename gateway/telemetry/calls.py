"""Call ids: `call-<process>-<minute hex>-<number hex>`, unique across replicas.

The id says where its record lives (the process's hash for that minute, see
`contract.telemetry.call_bucket`), so feedback finds it with one HGET. Pure; no I/O.
"""

import itertools
import os
import random
import time
from typing import NamedTuple

PREFIX = "call-"


class CallId(NamedTuple):
    process: str
    minute: int
    number: int


class CallIds:
    """Issues the ids of one gateway process."""

    __slots__ = ("_counter", "_prefix", "process")

    def __init__(self) -> None:
        self.process = f"{os.getpid():x}{random.getrandbits(32):08x}"
        self._prefix = f"{PREFIX}{self.process}-"
        self._counter = itertools.count(1)

    def new(self) -> tuple[str, int, int]:
        """(call id, minute, number)."""
        minute = int(time.time()) // 60
        number = next(self._counter)
        return f"{self._prefix}{minute:x}-{number:x}", minute, number


def parse_call_id(text: str) -> CallId | None:
    if not text.startswith(PREFIX):
        return None
    parts = text[len(PREFIX) :].split("-")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        return CallId(parts[0], int(parts[1], 16), int(parts[2], 16))
    except ValueError:
        return None

"""Which release served each recent call of this process, for feedback attribution: two bytes
per call, in blocks of `CALL_BLOCK` calls, until the flusher has written them to Redis.

A call is noted where its id is issued (no await in between), so call numbers arrive in order
and every block but the newest is complete. The bytes are a release code, an index (plus one)
into this process's table of releases; 0 means no call of that number in that minute. Pure; no
I/O. Memory is bounded by `limit_calls` (blocks waiting for Redis); past it calls are counted as
dropped.
"""

from gateway.contract.telemetry import CALL_BLOCK, CallRecord, block_of

_BLOCK_BYTES = 2 * CALL_BLOCK


class CallLedger:
    __slots__ = ("_codes", "blocks", "limit_blocks", "newest", "table")

    def __init__(self, limit_calls: int) -> None:
        self.table: list[tuple[str, str]] = []  # (route, release) of code i + 1
        self._codes: dict[tuple[str, str], int] = {}
        # (minute, block) -> two bytes per call, little-endian codes
        self.blocks: dict[tuple[int, int], bytearray] = {}
        self.newest: tuple[int, int] | None = None  # the block still being filled
        self.limit_blocks = -(-limit_calls // CALL_BLOCK)

    def code(self, route: str, release: str) -> int:
        key = (route, release)
        code = self._codes.get(key)
        if code is None:
            self.table.append(key)
            code = self._codes[key] = len(self.table)
        return code

    def note(self, minute: int, number: int, code: int) -> bool:
        """False when the ledger is full (the call cannot be attributed feedback)."""
        key = (minute, block_of(number))
        block = self.blocks.get(key)
        if block is None:
            if len(self.blocks) >= self.limit_blocks:
                return False
            block = self.blocks[key] = bytearray(_BLOCK_BYTES)
            self.newest = key
        offset = 2 * (number % CALL_BLOCK)
        block[offset] = code & 0xFF
        block[offset + 1] = code >> 8
        return True

    def written(self, keys: list[tuple[int, int]], newest: tuple[int, int] | None) -> None:
        """These blocks, copied when `newest` was the block being filled, are in Redis: forget
        those complete then (the newest may have grown since, and is written again)."""
        for key in keys:
            if key != newest:
                self.blocks.pop(key, None)

    def find(self, minute: int, number: int) -> CallRecord | None:
        block = self.blocks.get((minute, block_of(number)))
        if block is None:
            return None
        return record_in(block, number, self.table)


def record_in(
    block: bytes | bytearray, number: int, table: list[tuple[str, str]]
) -> CallRecord | None:
    """The call's record in a block, or None when no call of that number is in it."""
    offset = 2 * (number % CALL_BLOCK)
    if offset + 2 > len(block):
        return None
    code = block[offset] | block[offset + 1] << 8
    if code == 0 or code > len(table):
        return None
    route, release = table[code - 1]
    return CallRecord(route=route, release=release)

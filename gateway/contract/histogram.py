"""Fixed log-scale latency buckets, identical in every process and the control plane, so counts
merge exactly across replicas.

Bucket i (i >= 1) holds values in (BASE * GROWTH**(i-1), BASE * GROWTH**i]; bucket 0 holds values
<= BASE and the last bucket everything above the top bound. Pure; no I/O.
"""

import math

BASE_S = 0.0001  # 100 µs
GROWTH = 1.2
COUNT = 82  # top bound ~ 0.0001 * 1.2**80 ≈ 214 s; the last bucket catches the rest
_LOG_GROWTH = math.log(GROWTH)

UPPER_BOUNDS_S: tuple[float, ...] = tuple(BASE_S * GROWTH**i for i in range(COUNT - 1))


def bucket_index(value_s: float) -> int:
    if value_s <= BASE_S:
        return 0
    index = math.ceil(math.log(value_s / BASE_S) / _LOG_GROWTH - 1e-9)
    return index if index < COUNT - 1 else COUNT - 1


def quantile(counts: list[int], q: float) -> float | None:
    """Upper bound of the bucket holding the q-quantile (None when empty)."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank and count:
            return UPPER_BOUNDS_S[min(index, COUNT - 2)]
    return UPPER_BOUNDS_S[-1]


def new_counts() -> list[int]:
    return [0] * COUNT

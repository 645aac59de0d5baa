"""Fixed log-scale latency buckets, identical in every process and the control plane, so counts
merge exactly across replicas.

Bucket i (i >= 1) holds values in (BASE * GROWTH**(i-1), BASE * GROWTH**i]; bucket 0 holds values
<= BASE and the last bucket everything above the top bound. Pure; no I/O.
"""

from bisect import bisect_left

BASE_S = 0.0001  # 100 µs
GROWTH = 1.2
COUNT = 82  # top bound ~ 0.0001 * 1.2**80 ≈ 214 s; the last bucket catches the rest

UPPER_BOUNDS_S: tuple[float, ...] = tuple(BASE_S * GROWTH**i for i in range(COUNT - 1))


def bucket_index(value_s: float) -> int:
    """The bucket of `value_s`: a binary search of the bounds (in C), the hot path's three per
    call cost a third of a logarithm's; a value on a bound is in that bound's bucket."""
    return bisect_left(UPPER_BOUNDS_S, value_s)


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

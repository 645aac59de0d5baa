"""Sticky bucketing and weight intervals: pure functions shared by gateway and control.

A stable hash of (route, key) picks a bucket in [0, 10000). Canaries with an even release number
own intervals from 0 upward, those with an odd number intervals from 10000 downward (each side in
release-number order, the lowest number outermost), and the stable release owns the middle. So
raising a canary's weight only adds users to it, lowering it moves only the users past its new
boundary to stable, and with one canary on each side (r2 and r3 beside r1, say) changing one
never moves the other's users.
"""

import hashlib
import re
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

BUCKETS = 10_000

_RELEASE_NUMBER = re.compile(r"^r(\d+)$")


def sticky_bucket(route: str, key: str) -> int:
    digest = hashlib.blake2b(f"{route}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def release_number(release_id: str) -> int:
    match = _RELEASE_NUMBER.match(release_id)
    return int(match.group(1)) if match else 1 << 30


def interval_order(weights_bp: dict[str, int], stable: str, one_side: bool = False) -> list[str]:
    """Releases with weight, from bucket 0 up: the even-numbered canaries, stable, the odd ones.

    The side is fixed by the release number, not by which other releases have weight, so a
    canary never changes side when another one is added, raised or removed. With `one_side`
    (routes of a group) every canary sits at the bottom, whatever its number, so that routes of
    one group at equal weights split their users identically.
    """
    canaries = sorted(
        (r for r in weights_bp if r != stable and weights_bp[r] > 0),
        key=lambda r: (release_number(r), r),
    )
    if one_side:
        return [*canaries, *([stable] if weights_bp.get(stable, 0) > 0 else [])]
    bottom = [r for r in canaries if release_number(r) % 2 == 0]
    top = [r for r in canaries if release_number(r) % 2 == 1]
    middle = [stable] if weights_bp.get(stable, 0) > 0 else []
    return [*bottom, *middle, *reversed(top)]


def cumulative_bounds(
    weights_bp: dict[str, int], stable: str, one_side: bool = False
) -> tuple[list[int], list[str]]:
    """Upper bounds (exclusive) of each release's bucket interval, in interval order."""
    order = interval_order(weights_bp, stable, one_side)
    bounds: list[int] = []
    total = 0
    for release in order:
        total += weights_bp[release]
        bounds.append(total)
    return bounds, order


def release_for_bucket(bounds: Sequence[int], order: Sequence[T], bucket: int) -> T:
    """The entry of `order` whose interval holds `bucket` (order from `cumulative_bounds`)."""
    for upper, release in zip(bounds, order, strict=True):
        if bucket < upper:
            return release
    return order[-1]

"""Properties of the shared bucketing code (gateway.contract.bucketing), which the admin API's
resolve endpoint and every gateway run alike."""

from hypothesis import given
from hypothesis import strategies as st

from gateway.contract.bucketing import (
    BUCKETS,
    cumulative_bounds,
    release_for_bucket,
    sticky_bucket,
)

keys = st.text(min_size=1, max_size=40)


def owner(weights: dict[str, int], stable: str, bucket: int) -> str:
    bounds, order = cumulative_bounds(weights, stable)
    return release_for_bucket(bounds, order, bucket)


@given(st.text(max_size=20), keys)
def test_bucket_is_stable_and_in_range(route, key):
    bucket = sticky_bucket(route, key)
    assert 0 <= bucket < BUCKETS
    assert sticky_bucket(route, key) == bucket


@given(st.integers(0, BUCKETS), st.integers(0, BUCKETS), st.integers(0, BUCKETS - 1))
def test_raising_a_canary_never_moves_its_users_away(before, after, bucket):
    low, high = sorted((before, after))
    smaller = {"r1": BUCKETS - low, "r2": low}
    larger = {"r1": BUCKETS - high, "r2": high}
    if owner(smaller, "r1", bucket) == "r2":
        assert owner(larger, "r1", bucket) == "r2"
    # Lowering it moves only the users above the new boundary.
    if owner(larger, "r1", bucket) != owner(smaller, "r1", bucket):
        assert low <= bucket < high


@given(
    st.lists(st.integers(0, 3_000), min_size=3, max_size=3),
    st.integers(0, BUCKETS - 1),
)
def test_every_bucket_belongs_to_a_release_with_weight(canaries, bucket):
    weights = {"r2": canaries[0], "r3": canaries[1], "r4": canaries[2]}
    weights["r1"] = BUCKETS - sum(weights.values())
    chosen = owner(weights, "r1", bucket)
    assert weights[chosen] > 0


@given(st.integers(0, BUCKETS))
def test_share_of_buckets_equals_the_weight(canary):
    weights = {"r1": BUCKETS - canary, "r2": canary}
    bounds, order = cumulative_bounds(weights, "r1")
    counts = {r: 0 for r in weights}
    previous = 0
    for upper, release in zip(bounds, order, strict=True):
        counts[release] += upper - previous
        previous = upper
    assert counts == weights


@given(
    st.integers(0, 4_000), st.integers(0, 4_000), st.integers(0, 4_000), st.integers(0, BUCKETS - 1)
)
def test_changing_one_canary_never_moves_the_other_canarys_users(r2_before, r2_after, r3, bucket):
    """Stable r1 with canaries r2 and r3: only r2 and stable trade users when r2 moves."""
    before = {"r2": r2_before, "r3": r3, "r1": BUCKETS - r2_before - r3}
    after = {"r2": r2_after, "r3": r3, "r1": BUCKETS - r2_after - r3}
    was, now = owner(before, "r1", bucket), owner(after, "r1", bucket)
    if was != now:
        assert {was, now} <= {"r1", "r2"}

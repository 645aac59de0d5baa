"""The offered load drawn before a run: Poisson arrivals with ramps and bursts, users, request
mix and pinning clients, checked by seeded simulation (scipy as the reference for the
exponential gaps)."""

import msgspec
import numpy as np
import pytest
from scipy import stats

from loadtest.rehearsal.scenario_file import parse
from loadtest.rehearsal.schedule import (
    CHAT,
    EMBEDDINGS,
    NOT_PINNED,
    STREAM,
    build,
    rate_at,
)


def scenario(extra: str = "", *, rate: float = 500, duration: float = 60, users: int = 1000):
    return parse(
        f"""
name = "t"
[run]
duration_s = {duration}
seed = 5
[arrivals]
rate = {rate}
[population]
users = {users}
[releases.r1]
model = "a"
[releases.r2]
model = "b"
{extra}
"""
    )


def test_constant_rate_arrivals_are_poisson():
    schedule = build(scenario())
    due = schedule.due_s
    assert np.all(np.diff(due) >= 0) and due[0] >= 0 and due[-1] < 60
    expected = 500 * 60
    assert abs(due.size - expected) < 5 * np.sqrt(expected)
    counts = np.histogram(due, bins=np.arange(0, 61, 1.0))[0]
    assert abs(counts.var() / counts.mean() - 1) < 0.5  # Poisson: variance = mean
    gaps = np.diff(due) * 500
    assert stats.kstest(gaps, "expon").pvalue > 0.001


def test_ramps_and_bursts_shape_the_rate():
    text = """
[arrivals.ramps]
[[arrivals.ramps]]
at_s = 10
to_rate = 1000
over_s = 20
[[arrivals.bursts]]
at_s = 40
duration_s = 5
factor = 3
"""
    s = scenario(text.replace("[arrivals.ramps]\n", ""), rate=200)
    times = np.array([0.0, 9.9, 20.0, 30.0, 39.0, 42.0, 46.0])
    assert rate_at(s.arrivals, times).tolist() == [200, 200, 600, 1000, 1000, 3000, 1000]
    due = build(s).due_s
    for start, end, rate in ((0, 10, 200), (30, 40, 1000), (40, 45, 3000), (45, 60, 1000)):
        count = int(((due >= start) & (due < end)).sum())
        expected = rate * (end - start)
        assert abs(count - expected) < 5 * np.sqrt(expected), (start, end, count, expected)
    ramp = int(((due >= 10) & (due < 30)).sum())
    assert abs(ramp - 20 * 600) < 5 * np.sqrt(20 * 600)  # the mean of a linear ramp


def test_zipf_activity_concentrates_calls_on_few_users_and_uniform_does_not():
    skewed = build(parse(ZIPF))
    counts = np.bincount(skewed.user, minlength=1000)
    harmonic = (np.arange(1, 1001, dtype=float) ** -1.2).sum()
    top = counts.max() / counts.sum()
    assert abs(top - 1 / harmonic) < 0.01
    flat = np.bincount(build(scenario()).user, minlength=1000)
    assert flat.max() / flat.sum() < 0.003


ZIPF = """
name = "t"
[run]
duration_s = 60
seed = 5
[arrivals]
rate = 500
[population]
users = 1000
activity = "zipf"
zipf_exponent = 1.2
[releases.r1]
model = "a"
"""


def test_the_request_mix_and_the_pinning_clients():
    s = scenario(
        "[mix]\nstream_share = 0.2\nembeddings_share = 0.1\n"
        "[[clients]]\nrelease = 'r2'\nrate = 50\nfrom_s = 20\nto_s = 40\nusers = 7"
    )
    schedule = build(s)
    mine = schedule.pinned == NOT_PINNED
    kinds = schedule.kind[mine]
    for kind, share in ((STREAM, 0.2), (EMBEDDINGS, 0.1), (CHAT, 0.7)):
        assert abs((kinds == kind).mean() - share) < 0.01
    pinned = ~mine
    assert set(schedule.pinned[pinned].tolist()) == {1}  # r2
    assert np.all(schedule.kind[pinned] == CHAT)
    times = schedule.due_s[pinned]
    assert times.min() >= 20 and times.max() < 40
    assert abs(times.size - 1000) < 5 * np.sqrt(1000)
    keys = {schedule.keys[u] for u in schedule.user[pinned].tolist()}
    assert len(keys) <= 7 and all(k.startswith("client0-") for k in keys)
    assert all(schedule.keys[u].startswith("user-") for u in schedule.user[mine][:100].tolist())


def test_seeded_bounded_and_reproducible():
    a, b = build(scenario()), build(scenario())
    assert np.array_equal(a.due_s, b.due_s) and np.array_equal(a.user, b.user)
    other = build(with_run(seed=6))
    assert not np.array_equal(a.due_s[:100], other.due_s[:100])
    capped = build(with_run(max_calls=1234))
    assert len(capped) == 1234
    assert np.array_equal(capped.due_s, a.due_s[:1234])


def with_run(**changes):
    base = scenario()
    return msgspec.structs.replace(base, run=msgspec.structs.replace(base.run, **changes))


@pytest.mark.parametrize("rate", [0.5, 5000])
def test_very_low_and_high_rates(rate: float):
    due = build(scenario(rate=rate, duration=20)).due_s
    expected = rate * 20
    assert abs(due.size - expected) < 5 * np.sqrt(expected) + 1

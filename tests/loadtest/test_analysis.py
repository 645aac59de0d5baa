"""The report's figures from synthetic records whose truth is known: which release a bucket gets
(as the gateway picks it), flip propagation brackets, the split check, blast radius and the time
to rollback."""

import numpy as np
import pytest

from gateway.contract.bucketing import BUCKETS, cumulative_bounds, release_for_bucket
from loadtest.rehearsal import propagation, summary
from loadtest.rehearsal.records import ANSWERED, DOWN, CallLog
from loadtest.rehearsal.timeline import Change, assignment, changes, weight_steps
from loadtest.rehearsal.watch import Seen

RELEASES = ["r1", "r2", "r3"]


@pytest.mark.parametrize(
    ("weights", "stable"),
    [
        ({"r1": 100.0}, "r1"),
        ({"r1": 95.0, "r2": 5.0}, "r1"),
        ({"r1": 70.5, "r2": 19.5, "r3": 10.0}, "r1"),
        ({"r2": 100.0}, "r1"),
        ({"r1": 60.0, "r3": 40.0}, "r3"),
    ],
)
def test_assignment_matches_the_gateways_bucketing(weights: dict[str, float], stable: str):
    buckets = np.arange(BUCKETS, dtype=np.int64)
    found = assignment(weights, stable, buckets, RELEASES)
    bounds, order = cumulative_bounds({r: round(w * 100) for r, w in weights.items()}, stable)
    expected = [RELEASES.index(release_for_bucket(bounds, order, b)) for b in range(BUCKETS)]
    assert found.tolist() == expected


def flip(at_s: float, revision: int, before: dict[str, float], after: dict[str, float]) -> Change:
    return Change(at_s, revision, "route.flip", "op", "", before, after, "r1", "r1")


def served_log(
    applied: list[float], flip_at: float, before: dict[str, float], after: dict[str, float]
) -> tuple[CallLog, np.ndarray]:
    """Calls every 0.5 ms on alternating replicas; replica n resolves with the new weights from
    `applied[n]`; each call takes 30 ms."""
    rng = np.random.default_rng(3)
    sent = np.arange(flip_at - 0.5, flip_at + 0.5, 0.0005)
    log = CallLog(sent.size, RELEASES)
    buckets = rng.integers(0, BUCKETS, size=sent.size)
    log.sent_s[:] = sent
    log.done_s[:] = sent + 0.03
    log.replica[:] = np.arange(sent.size) % len(applied)
    log.outcome[:] = ANSWERED
    log.status[:] = 200
    old = assignment(before, "r1", buckets, RELEASES)
    new = assignment(after, "r1", buckets, RELEASES)
    resolved_at = sent + 0.0002
    has_new = resolved_at >= np.array(applied)[log.replica]
    log.release[:] = np.where(has_new, new, old)
    return log, buckets


def test_propagation_brackets_each_replicas_true_apply_time():
    before, after = {"r1": 80.0, "r2": 20.0}, {"r1": 50.0, "r2": 50.0}
    applied = [10.004, 10.019]
    log, buckets = served_log(applied, 10.0, before, after)
    seen = [[Seen(2, 10.001, 10.0045)], [Seen(2, 10.015, 10.080)]]
    pinned = np.zeros(len(log), dtype=bool)
    (result,) = propagation.flips([flip(10.0, 2, before, after)], seen, log, buckets, pinned, 20)
    for replica, truth_s in zip(result.replicas, applied, strict=True):
        truth_ms = (truth_s - 10.0) * 1000
        assert replica.after_ms <= truth_ms <= replica.by_ms
        assert replica.headers_by_ms is not None and replica.headers_by_ms >= truth_ms
    assert result.replicas[0].by_ms == pytest.approx(4.5)  # the metric poll was first
    assert result.replicas[1].metric_by_ms == pytest.approx(80.0)
    assert result.replicas[1].by_ms < 80.0  # responses proved it earlier than the poll
    assert result.all_by_ms == max(r.by_ms for r in result.replicas)
    assert propagation.summary([result])["max_ms"] == pytest.approx(result.all_by_ms)


def test_a_replica_that_never_showed_the_revision_is_not_measured():
    before, after = {"r1": 100.0}, {"r1": 90.0, "r2": 10.0}
    log, buckets = served_log([10.002, 99.0], 10.0, before, after)
    seen: list[list[Seen]] = [[Seen(2, 10.0, 10.003)], []]
    pinned = np.zeros(len(log), dtype=bool)
    (result,) = propagation.flips([flip(10.0, 2, before, after)], seen, log, buckets, pinned, 20)
    assert result.replicas[1].by_ms is None and result.all_by_ms is None
    assert propagation.summary([result])["measured"] == 0


def split_log(weights: dict[str, float], users: int = 4000, calls: int = 12000):
    rng = np.random.default_rng(9)
    buckets = rng.integers(0, BUCKETS, size=users)
    user = rng.integers(0, users, size=calls)
    log = CallLog(calls, RELEASES)
    log.sent_s[:] = np.sort(rng.uniform(0, 100, size=calls))
    log.done_s[:] = log.sent_s + 0.01
    log.outcome[:] = ANSWERED
    log.status[:] = 200
    log.release[:] = assignment(weights, "r1", buckets[user], RELEASES)
    return log, user


def test_the_split_check_passes_a_true_split_and_fails_a_skewed_one():
    weights = {"r1": 75.0, "r2": 25.0}
    log, user = split_log(weights)
    pinned = np.zeros(len(log), dtype=bool)
    (segment,) = summary.segments([(0.0, weights)], log, user, pinned, 100, 4.0)
    assert segment["ok"] and segment["users_on_two_releases"] == 0
    assert abs(segment["releases"]["r2"]["share"] - 0.25) <= segment["releases"]["r2"]["tolerance"]
    skewed = log.release.copy()
    moved = np.isin(user, np.unique(user[log.release == 0])[:150])  # 150 r1 users to r2
    log.release[moved] = 1
    (segment,) = summary.segments([(0.0, weights)], log, user, pinned, 100, 4.0)
    assert not segment["ok"] and segment["releases"]["r2"]["z"] > 4
    log.release[:] = skewed
    log.release[np.flatnonzero(log.release == 0)[:1]] = 1  # one user sees both releases
    (segment,) = summary.segments([(0.0, weights)], log, user, pinned, 100, 4.0)
    assert segment["users_on_two_releases"] == 1 and not segment["ok"]


def test_blast_radius_and_time_to_rollback_count_until_the_flip_back():
    log, user = split_log({"r1": 50.0, "r2": 50.0})
    r2 = log.release == 1
    log.release[r2 & (log.sent_s < 20)] = 0  # r2 first served at 20 s…
    log.release[r2 & (log.sent_s > 60.05)] = 0  # …and off after the flip back at 60 s + 50 ms
    log.status[np.flatnonzero((log.release == 1) & (log.sent_s > 30))[:3]] = 500
    downs = np.flatnonzero((log.release == 1) & (log.sent_s > 25))[:2]
    log.feedback[downs] = DOWN
    log.feedback_status[downs] = 202
    log.feedback_sent_s[downs] = log.done_s[downs] + 1.0
    pinned = np.zeros(len(log), dtype=bool)
    back = Change(60.0, 4, "rollout.rollback", "controller", "", {"r1": 50, "r2": 50},
                  {"r1": 100}, "r1", "r1")  # fmt: skip
    found = [flip(20.0, 3, {"r1": 100.0}, {"r1": 50.0, "r2": 50.0}), back]
    radius = summary.blast_radius(log, user, pinned, found)["r2"]
    mine = log.release == 1
    until = mine & (log.sent_s <= 60.0)
    assert radius["calls"] == int(mine.sum())
    assert radius["until_flip_back"]["calls"] == int(until.sum())
    assert radius["until_flip_back"]["users"] == np.unique(user[until]).size
    assert radius["after_flip_back"]["calls"] == int((mine & (log.sent_s > 60)).sum()) > 0
    timing = summary.time_to_rollback("r2", log, pinned, found)
    assert timing is not None
    first = float(log.sent_s[mine].min())
    assert timing["from_first_call_s"] == pytest.approx(60.0 - first, abs=1e-3)
    first_bad = min(log.done_s[downs].min() + 1.0, log.done_s[(log.status == 500)].min())
    assert timing["first_bad_outcome_s"] == pytest.approx(first_bad, abs=1e-3)
    assert "until_flip_back" not in summary.blast_radius(log, user, pinned, found)["r1"]


def test_changes_and_weight_steps_from_the_audit_trail():
    wall0 = 1_700_000_000.0
    audit = [
        {"id": "1700000000500-0", "revision": 3, "action": "route.flip", "actor": "op",
         "reason": "x", "before": {"stable": "r1", "weights": {"r1": 100, "r2": 0}},
         "after": {"stable": "r1", "weights": {"r1": 90, "r2": 10}}},
        {"id": "1699999999000-0", "revision": 2, "action": "release.create", "actor": "op",
         "reason": "", "before": None, "after": {"stable": "r1", "weights": {"r1": 100}}},
        {"id": "1700000002000-0", "revision": None, "action": "rollout.hold", "actor": "c",
         "reason": "", "before": None, "after": None},
    ]  # fmt: skip
    found = changes(audit, wall0)
    assert [c.revision for c in found] == [2, 3]
    assert found[1].at_s == pytest.approx(0.5) and found[1].after == {"r1": 90.0, "r2": 10.0}
    assert found[1].before == {"r1": 100.0} and found[1].moves_traffic
    steps = weight_steps({"revision": 2, "weights": {"r1": 100, "r2": 0}}, found)
    assert steps == [(0.0, {"r1": 100.0}), (0.5, {"r1": 90.0, "r2": 10.0})]

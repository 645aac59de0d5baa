"""The run's figures from the generator's own records (the ground truth): per release calls,
users, errors, ratings and latency; the observed split per constant-weight segment against its
binomial tolerance; sample-ratio p-values; blast radius; time from the first bad call to the
rollback; the generator's own lateness and cost. Pure.
"""

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from control.rollout.srm import srm_p_value
from loadtest.rehearsal.records import ANSWERED, DOWN, LOST, SCORE, SHED, UNSENT, UP, CallLog
from loadtest.rehearsal.timeline import Change

# After a flip, calls may still be resolved under the old weights for the flip's propagation
# time (milliseconds): the segment's first SETTLE_S are left out of the split check.
SETTLE_S = 0.25
# The generator fell behind when its lateness p99 exceeds this, or any call left this late: a
# few milliseconds are the event loop's and the OS's timer steps on a busy machine, not a
# generator unable to keep up.
BEHIND_P99_MS = 20.0
BEHIND_MAX_MS = 200.0

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


def _pct(values: npt.NDArray[np.float64], q: float, scale: float = 1000.0) -> float | None:
    values = values[~np.isnan(values)]
    return round(float(np.percentile(values, q)) * scale, 3) if values.size else None


def per_release(log: CallLog, users: Ints, pinned: Mask) -> dict[str, dict[str, Any]]:
    answered = log.outcome == ANSWERED
    accepted = log.feedback_status == 202
    out: dict[str, dict[str, Any]] = {}
    for index, release in enumerate(log.releases):
        mine = answered & (log.release == index)
        if not mine.any():
            continue
        real = mine & ~pinned
        errors = int((mine & (log.status >= 400)).sum())
        ups = int((mine & accepted & (log.feedback == UP)).sum())
        downs = int((mine & accepted & (log.feedback == DOWN)).sum())
        scores = log.score[mine & accepted & (log.feedback == SCORE)]
        ok = mine & (log.status == 200)
        latency = log.done_s[ok] - log.sent_s[ok]
        first_byte = log.first_byte_s[ok] - log.sent_s[ok]
        out[release] = {
            "calls": int(mine.sum()),
            "pinned_calls": int((mine & pinned).sum()),
            "users": int(np.unique(users[real]).size),
            "errors": errors,
            "error_rate": round(errors / int(mine.sum()), 6),
            "ratings": ups + downs,
            "thumbs_down": downs,
            "thumbs_down_rate": round(downs / (ups + downs), 6) if ups + downs else None,
            "scores": int(scores.size),
            "mean_score": round(float(scores.mean()), 4) if scores.size else None,
            "latency_ms": {f"p{q}": _pct(latency, q) for q in (50, 95, 99)},
            "first_event_ms": {f"p{q}": _pct(first_byte, q) for q in (50, 99)},
            "first_call_s": round(float(np.nanmin(log.sent_s[real])), 3) if real.any() else None,
            "last_call_s": round(float(np.nanmax(log.sent_s[real])), 3) if real.any() else None,
        }
    return out


def segments(
    steps: list[tuple[float, dict[str, float]]],
    log: CallLog,
    users: Ints,
    pinned: Mask,
    load_s: float,
    sigmas: float,
) -> list[dict[str, Any]]:
    """Per stretch of constant weights: distinct users per release against Binomial(users, w)
    (a user's bucket is a hash, so users, not calls, are independent draws), and users who saw
    two releases in it (stickiness broken)."""
    answered = (log.outcome == ANSWERED) & ~pinned & (log.release >= 0)
    out = []
    for number, (start, weights) in enumerate(steps):
        end = steps[number + 1][0] if number + 1 < len(steps) else load_s
        begin = start + (SETTLE_S if number else 0.0)
        if end - begin <= 0:
            continue
        rows = answered & (log.sent_s >= begin) & (log.sent_s < end)
        pairs = np.unique(np.stack([users[rows], log.release[rows].astype(np.int64)]), axis=1)
        seen_users, per_user = np.unique(pairs[0], return_counts=True)
        total = int(seen_users.size)
        checks = {}
        for release, percent in sorted({**{r: 0.0 for r in log.releases}, **weights}.items()):
            index = log.release_index(release)
            count = int((pairs[1] == index).sum())
            if percent == 0 and count == 0 and release not in weights:
                continue
            checks[release] = _binomial(count, total, percent / 100, sigmas)
            checks[release]["calls"] = int((rows & (log.release == index)).sum())
        out.append(
            {
                "from_s": round(begin, 3),
                "to_s": round(end, 3),
                "weights": weights,
                "users": total,
                "calls": int(rows.sum()),
                "releases": checks,
                "users_on_two_releases": int((per_user > 1).sum()),
                "ok": all(c["ok"] for c in checks.values()) and not (per_user > 1).any(),
            }
        )
    return out


def _binomial(count: int, total: int, share: float, sigmas: float) -> dict[str, Any]:
    expected = total * share
    sd = math.sqrt(total * share * (1 - share))
    z = (0.0 if count == expected else math.inf) if sd == 0 else (count - expected) / sd
    return {
        "users": count,
        "share": round(count / total, 6) if total else None,
        "expected_share": share,
        "tolerance": round(sigmas * sd / total, 6) if total else None,
        "z": round(z, 3) if math.isfinite(z) else None,
        "ok": abs(z) <= sigmas,
    }


def srm(
    steps: list[tuple[float, dict[str, float]]],
    log: CallLog,
    users: Ints,
    pinned: Mask,
    load_s: float,
) -> dict[str, Any] | None:
    """Chi-square p-values of the last split with two or more releases: over all calls as the
    gateways count them (pinned ones included), and over the distinct real users."""
    for number in range(len(steps) - 1, -1, -1):
        start, weights = steps[number]
        if len(weights) >= 2:
            break
    else:
        return None
    end = steps[number + 1][0] if number + 1 < len(steps) else load_s
    rows = (log.outcome == ANSWERED) & (log.sent_s >= start + SETTLE_S) & (log.sent_s < end)
    shares = {r: w / 100 for r, w in weights.items()}
    calls = {r: int((rows & (log.release == log.release_index(r))).sum()) for r in weights}
    distinct = {
        r: int(np.unique(users[rows & ~pinned & (log.release == log.release_index(r))]).size)
        for r in weights
    }
    if not sum(calls.values()):
        return None
    return {
        "from_s": round(start + SETTLE_S, 3),
        "to_s": round(end, 3),
        "weights": weights,
        "calls": calls,
        "calls_p": srm_p_value(calls, shares),
        "users": distinct,
        "users_p": srm_p_value(distinct, shares) if sum(distinct.values()) else None,
    }


def flip_back(release: str, found: list[Change]) -> Change | None:
    """The last change that took all traffic off `release` after it had some."""
    last = None
    for change in found:
        if change.before.get(release, 0) > 0 and change.after.get(release, 0) == 0:
            last = change
    return last


def blast_radius(
    log: CallLog, users: Ints, pinned: Mask, found: list[Change]
) -> dict[str, dict[str, Any]]:
    answered = (log.outcome == ANSWERED) & ~pinned
    out: dict[str, dict[str, Any]] = {}
    for index, release in enumerate(log.releases):
        mine = answered & (log.release == index)
        if not mine.any():
            continue
        entry: dict[str, Any] = {
            "calls": int(mine.sum()),
            "users": int(np.unique(users[mine]).size),
        }
        back = flip_back(release, found)
        if back is not None:
            first = float(np.nanmin(log.sent_s[mine]))
            before = mine & (log.sent_s <= back.at_s)
            after = mine & (log.sent_s > back.at_s)
            entry["until_flip_back"] = {
                "from_s": round(first, 3),
                "to_s": round(back.at_s, 3),
                "action": back.action,
                "calls": int(before.sum()),
                "users": int(np.unique(users[before]).size),
            }
            entry["after_flip_back"] = {
                "calls": int(after.sum()),
                "last_served_s": round(float(np.nanmax(log.done_s[after])), 3)
                if after.any()
                else None,
            }
        out[release] = entry
    return out


def time_to_rollback(
    release: str, log: CallLog, pinned: Mask, found: list[Change]
) -> dict[str, Any] | None:
    """From the bad release's first call (and first bad outcome: an error or a thumbs-down) to
    the flip that took its traffic away."""
    back = flip_back(release, found)
    if back is None or release not in log.releases:
        return None
    mine = (log.outcome == ANSWERED) & ~pinned & (log.release == log.releases.index(release))
    if not mine.any():
        return None
    first = float(np.nanmin(log.sent_s[mine]))
    errors = log.done_s[mine & (log.status >= 400)]
    downs = log.feedback_sent_s[mine & (log.feedback == DOWN) & (log.feedback_status == 202)]
    bad = np.concatenate([errors, downs])
    first_bad = float(np.nanmin(bad)) if bad.size else None
    return {
        "release": release,
        "first_call_s": round(first, 3),
        "first_bad_outcome_s": None if first_bad is None else round(first_bad, 3),
        "flip_back_s": round(back.at_s, 3),
        "action": back.action,
        "actor": back.actor,
        "from_first_call_s": round(back.at_s - first, 3),
        "from_first_bad_outcome_s": None if first_bad is None else round(back.at_s - first_bad, 3),
    }


def _counts(values: npt.NDArray[np.int16]) -> dict[str, int]:
    found, counts = np.unique(values, return_counts=True)
    return {str(value): int(count) for value, count in zip(found, counts, strict=True)}


def load(log: CallLog, load_s: float, cpu_s: float, feedback_unsent: int) -> dict[str, Any]:
    fired = ~np.isnan(log.sent_s)
    offered = int((log.outcome != UNSENT).sum())  # sent, or shed by the in-flight bound
    answered = int((log.outcome == ANSWERED).sum())
    lag = log.lag_s[fired]
    p99, worst = _pct(lag, 99), _pct(lag, 100)
    behind = bool(
        p99 is not None and worst is not None and (p99 > BEHIND_P99_MS or worst > BEHIND_MAX_MS)
    )
    feedback = log.feedback > 0
    return {
        "scheduled": len(log),
        "sent": int(fired.sum()),
        "answered": answered,
        "lost": int((log.outcome == LOST).sum()),
        "shed": int((log.outcome == SHED).sum()),
        "not_sent_run_ended": int((log.outcome == UNSENT).sum()),
        "transport_errors": dict(log.transport_errors),
        "statuses": _counts(log.status[log.status > 0]),
        "offered_per_s": round(offered / load_s, 2) if load_s else None,
        "achieved_per_s": round(answered / load_s, 2) if load_s else None,
        "lag_ms": {"p50": _pct(lag, 50), "p99": p99, "max": worst},
        "generator_behind": behind,
        "feedback": {
            "decided": int(feedback.sum()),
            "sent": int((log.feedback_status != 0).sum()),
            "accepted": int((log.feedback_status == 202).sum()),
            "statuses": _counts(log.feedback_status[log.feedback_status != 0]),
            "unsent_run_ended": feedback_unsent,
        },
        "generator_cpu_s": round(cpu_s, 3),
        "generator_cpu_share": round(cpu_s / load_s, 4) if load_s else None,
        "generator_cpu_us_per_call": round(cpu_s / max(int(fired.sum()), 1) * 1e6, 1),
    }

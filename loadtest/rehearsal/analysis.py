"""The report's content as one JSON-ready document, and the checks a run must pass: computed from
the run's records, the audit trail and the controller's evidence. Pure (no I/O).
"""

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.contract.bucketing import sticky_bucket
from loadtest.rehearsal import propagation, series, summary, timeline
from loadtest.rehearsal.action import OUTCOME_OF_STATUS
from loadtest.rehearsal.run import RunData
from loadtest.rehearsal.scenario import Rollout
from loadtest.rehearsal.schedule import NOT_PINNED

FORMAT = 1


def _user_buckets(data: RunData) -> npt.NDArray[np.int64]:
    route = data.scenario.route.name
    keys = data.schedule.keys
    used = np.unique(data.schedule.user)
    table = np.zeros(len(keys), dtype=np.int64)
    for user in used.tolist():
        table[user] = sticky_bucket(route, keys[user])
    return table[data.schedule.user]


def _evidence(data: RunData) -> dict[str, Any]:
    """The controller's looks over time per guard (estimate and confidence bounds), its margins,
    and its decisions."""
    view = data.rollout_view
    if view is None:
        return {"guards": {}, "decisions": []}
    rollout = view["rollout"]
    guards: dict[str, Any] = {
        g["metric"]: {"margin": g["margin"], "t": [], "estimate": [], "lower": [], "upper": []}
        for g in rollout["guards"]
    }
    for at, _step, looks in view["history"]:
        for metric, _verdict, estimate, lower, upper in looks:
            series_ = guards.setdefault(
                metric, {"margin": None, "t": [], "estimate": [], "lower": [], "upper": []}
            )
            series_["t"].append(round(at - data.wall0, 3))
            for name, value in (("estimate", estimate), ("lower", lower), ("upper", upper)):
                finite = value is not None and np.isfinite(value)
                series_[name].append(round(float(value), 6) if finite else None)
    decisions = [
        {
            "at_s": round(d["at"] - data.wall0, 3),
            "action": d["action"],
            "actor": d["actor"],
            "reason": d["reason"],
        }
        for d in rollout["decisions"]
        if d["at"] >= data.wall0 - 1
    ]
    return {"guards": guards, "decisions": decisions}


def _final_outcome(data: RunData) -> str | None:
    action = data.scenario.action
    if isinstance(action, Rollout):
        rollout = data.route_end.get("rollout")
        if rollout is None:
            return None
        return OUTCOME_OF_STATUS.get(rollout["status"], str(rollout["status"]))
    return data.played.outcome


def _checks(data: RunData, doc: dict[str, Any]) -> list[dict[str, Any]]:
    expect = data.scenario.expect
    load = doc["load"]
    checks = []
    if expect.outcome is not None:
        checks.append(
            {
                "name": "outcome",
                "ok": doc["outcome"]["final"] == expect.outcome,
                "detail": f"expected {expect.outcome}, got {doc['outcome']['final']}",
            }
        )
    lost = load["lost"] + load["shed"]
    checks.append(
        {
            "name": "no lost calls",
            "ok": lost <= expect.lost_calls,
            "detail": f"{load['lost']} lost, {load['shed']} shed (allowed {expect.lost_calls})",
        }
    )
    checks.append(
        {
            "name": "gateways counted every answered call",
            "ok": lost > 0 or data.gateway_calls == load["answered"],
            "detail": f"gateways counted {data.gateway_calls}, generator got {load['answered']}",
        }
    )
    bad = [s for s in doc["split"]["segments"] if not s["ok"]]
    checks.append(
        {
            "name": "split within binomial tolerance, sticky",
            "ok": not bad,
            "detail": f"{len(doc['split']['segments']) - len(bad)} of "
            f"{len(doc['split']['segments'])} segments within {expect.split_sigmas:g} SD",
        }
    )
    feedback = load["feedback"]
    checks.append(
        {
            "name": "feedback accepted",
            "ok": feedback["accepted"] == feedback["sent"],
            "detail": f"{feedback['accepted']} of {feedback['sent']} accepted",
        }
    )
    return checks


def analyse(data: RunData, *, started_at: datetime | None = None) -> dict[str, Any]:
    log, schedule = data.log, data.schedule
    pinned = schedule.pinned != NOT_PINNED
    users = schedule.user
    changes = timeline.changes(data.audit, data.wall0)
    steps = timeline.weight_steps(data.route_start, changes)
    flips = propagation.flips(changes, data.seen, log, _user_buckets(data), pinned, data.load_s)
    scenario = data.scenario
    final = _final_outcome(data)
    rolled_back = None
    if isinstance(scenario.action, Rollout):
        rolled_back = scenario.action.release
    else:
        candidates = [r for r in log.releases if summary.flip_back(r, changes) is not None]
        rolled_back = candidates[0] if candidates else None
    rollout = data.route_end.get("rollout")
    doc: dict[str, Any] = {
        "format": FORMAT,
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "short": data.short,
            "duration_s": scenario.run.duration_s,
            "seed": scenario.run.seed,
            "route": scenario.route.name,
        },
        "run": {
            "mode": data.mode,
            "replicas": len(data.gateways),
            "started_at": (started_at or datetime.fromtimestamp(data.wall0, UTC)).isoformat(),
            "load_s": round(data.load_s, 3),
            "load_average": [round(v, 2) for v in data.load_average],
            "children_cpu_s": {n: round(v, 3) for n, v in data.children_cpu_s.items()},
            "revision_polls": data.revision_polls,
        },
        "outcome": {
            "expected": scenario.expect.outcome,
            "first": data.played.outcome,
            "first_at_s": None
            if data.played.outcome_at_s is None
            else round(data.played.outcome_at_s, 3),
            "final": final,
            "reason": (rollout or {}).get("status_reason") or data.played.reason,
        },
        "load": {
            **summary.load(log, data.load_s, data.generator_cpu_s, data.feedback_unsent),
            "gateway_counted": data.gateway_calls,
        },
        "releases": summary.per_release(log, users, pinned),
        "weights": [{"from_s": round(t, 3), "weights": w} for t, w in steps],
        "split": {
            "segments": summary.segments(
                steps, log, users, pinned, data.load_s, scenario.expect.split_sigmas
            ),
            "srm": {
                "generator": summary.srm(steps, log, users, pinned, data.load_s),
                "controller": (rollout or {}).get("srm"),
                "stats_api": None
                if data.stats is None
                else {
                    "requests_p": data.stats.get("srm_p_value"),
                    "keys_p": data.stats.get("srm_keys_p_value"),
                },
            },
        },
        "blast_radius": summary.blast_radius(log, users, pinned, changes),
        "rollback": None
        if rolled_back is None
        else summary.time_to_rollback(rolled_back, log, pinned, changes),
        "propagation": {
            **propagation.summary(flips),
            "flips": [
                {
                    "revision": f.revision,
                    "at_s": round(f.at_s, 3),
                    "action": f.action,
                    "all_replicas_ms": f.all_by_ms,
                    "replicas": [r.__dict__ for r in f.replicas],
                }
                for f in flips
            ],
        },
        "changes": [
            {
                "at_s": round(c.at_s, 3),
                "revision": c.revision,
                "action": c.action,
                "actor": c.actor,
                "reason": c.reason,
                "weights": c.after,
            }
            for c in changes
        ],
        "controller": _evidence(data),
        "series": series.build(log, schedule, pinned, data.load_s),
    }
    doc["checks"] = _checks(data, doc)
    doc["ok"] = all(c["ok"] for c in doc["checks"])
    return doc

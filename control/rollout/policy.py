"""Rollout policy per change type, and a request resolved against it. Pure; no I/O.

A model or data (artifacts) change shifts behaviour more than a parameter tweak, so its defaults
take more steps and bake longer. Settings may replace any of these; a request overrides fields.
"""

from decimal import Decimal

from control.errors import BROKEN_RULE, BadInput
from control.rollout.model import Guard, GuardIn, Policy, RolloutIn

_RATE_GUARDS = [
    GuardIn(metric="error_rate", margin=0.02, tau=0.02, hard_ceiling=0.2, hard_min_n=20),
    GuardIn(metric="thumbs_down_rate", margin=0.03, tau=0.02),
    GuardIn(metric="latency", margin=0.25),
]

DEFAULT_POLICIES: dict[str, Policy] = {
    "params": Policy(
        steps=[5, 25, 50, 100], min_bake_s=120, min_requests=200, max_step_s=1800,
        guards=_RATE_GUARDS,
    ),
    "prompt": Policy(
        steps=[1, 5, 25, 50, 100], min_bake_s=300, min_requests=500, max_step_s=3600,
        guards=_RATE_GUARDS,
    ),
    "model": Policy(
        steps=[1, 5, 10, 25, 50, 100], min_bake_s=900, min_requests=1000, max_step_s=7200,
        guards=_RATE_GUARDS,
    ),
    "artifacts": Policy(
        steps=[1, 5, 10, 25, 50, 100], min_bake_s=900, min_requests=1000, max_step_s=7200,
        guards=_RATE_GUARDS,
    ),
    "several": Policy(
        steps=[1, 5, 10, 25, 50, 100], min_bake_s=900, min_requests=1000, max_step_s=7200,
        guards=_RATE_GUARDS,
    ),
}  # fmt: skip
_OVERRIDABLE = (
    "steps",
    "min_bake_s",
    "min_requests",
    "max_step_s",
    "guards",
    "on_inconclusive",
    "alpha",
)
FALLBACK_TYPE = "params"  # a release identical to stable ("none") is rolled out like params

# Per metric: (margin, tau, min_samples) when the guard leaves them out.
_GUARD_DEFAULTS = {
    "error_rate": (0.02, 0.02, 50),
    "thumbs_down_rate": (0.03, 0.02, 100),
    "score": (0.05, 0.05, 50),
    "latency": (0.25, 0.25, 50),
}


def check_steps(steps: list[float]) -> None:
    """Canary percents: each in (0, 100], at most two decimals, strictly increasing."""
    if not steps:
        raise BadInput(
            "steps: give at least one step (canary percent)", field="steps", code=BROKEN_RULE
        )
    previous = 0.0
    for index, step in enumerate(steps):
        field = f"steps[{index}]"
        if not 0 < step <= 100:
            raise BadInput(
                f"{field}: must be above 0 and at most 100, got {step}",
                field=field,
                code=BROKEN_RULE,
            )
        if Decimal(repr(step)) * 100 % 1:
            raise BadInput(
                f"{field}: at most two decimals, got {step}", field=field, code=BROKEN_RULE
            )
        if step <= previous:
            raise BadInput(
                f"{field}: steps must increase strictly ({step} after {previous})",
                field=field,
                code=BROKEN_RULE,
            )
        previous = step


def resolve_guard(guard: GuardIn) -> Guard:
    margin, tau, min_samples = _GUARD_DEFAULTS[guard.metric]
    if guard.hard_ceiling is not None and guard.metric not in ("error_rate", "thumbs_down_rate"):
        raise BadInput(
            f"guards.hard_ceiling: only rate guards have one, not {guard.metric}",
            field="guards.hard_ceiling",
            code=BROKEN_RULE,
        )
    return Guard(
        metric=guard.metric,
        margin=guard.margin if guard.margin is not None else margin,
        tau=guard.tau if guard.tau is not None else tau,
        tolerated=guard.tolerated,
        hard_ceiling=guard.hard_ceiling,
        hard_min_n=guard.hard_min_n,
        min_samples=guard.min_samples if guard.min_samples is not None else min_samples,
    )


def resolve(body: RolloutIn, change_type: str, policies: dict[str, Policy]) -> tuple[Policy, str]:
    """The policy for this rollout, and a line saying where it came from."""
    merged = {**DEFAULT_POLICIES, **policies}
    kind = change_type if change_type in merged else FALLBACK_TYPE
    base = merged[kind]
    overrides = {
        name: getattr(body, name) for name in _OVERRIDABLE if getattr(body, name) is not None
    }
    policy = Policy(**{**{f: getattr(base, f) for f in Policy.__struct_fields__}, **overrides})
    check_steps(policy.steps)
    if not policy.guards:
        raise BadInput("guards: give at least one guard", field="guards", code=BROKEN_RULE)
    metrics = [g.metric for g in policy.guards]
    for metric in metrics:
        if metrics.count(metric) > 1:
            raise BadInput(f"guards: {metric} appears twice", field="guards", code=BROKEN_RULE)
    source = f"{kind} defaults"
    if overrides:
        source += f"; overridden: {', '.join(overrides)}"
    return policy, source

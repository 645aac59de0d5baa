"""The eval gate as the rollout start sees it: does the candidate have a passing gate?

SPEC: a rollout needs a passing eval gate unless started with `skip_gate` and a reason. The eval
feature replaces `gate_refusal` with its real check; until then every start is let through (the
start's audit entry records whether the gate was skipped, and why).
"""

from control.store import Store


async def gate_refusal(store: Store, route: str, release: str, stable: str) -> str | None:
    """Why `release` may not start a rollout on `route` (no passing eval gate against `stable`),
    or None. Not called when the rollout is started with `skip_gate`.

    Eval runs are not stored yet: this refuses nothing.
    """
    del store, route, release, stable
    return None

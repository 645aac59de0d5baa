"""The eval gate as the rollout start sees it: does the candidate have a passing gate?

SPEC: a rollout needs a passing, fresh eval verdict (`control.eval.gate`) unless started with
`skip_gate` and a reason, which the start's audit entry records.
"""

from control.eval import gate
from control.store import Store


async def gate_refusal(store: Store, route: str, release: str, stable: str) -> str | None:
    """Why `release` may not start a rollout on `route` (no passing eval gate against `stable`),
    or None. Not called when the rollout is started with `skip_gate`.
    """
    del stable  # the verdict's staleness check reads the route's stable release itself
    return await gate.gate_refusal(store, route, release)

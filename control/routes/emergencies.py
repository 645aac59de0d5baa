"""Emergency changes: the audit evidence and the needs-review item an `emergency: true` change
writes with it (in the same atomic script). Pure; no I/O here."""

from datetime import datetime

import msgspec

from control.reviews.model import Review
from control.reviews.model import encoder as review_encoder
from control.windows.schedule import Freeze


class Emergency(msgspec.Struct, frozen=True):
    """What an emergency change writes: audit evidence and a needs-review item."""

    evidence: bytes
    review: bytes


def emergency(
    route: str, action: str, actor: str, reason: str, overrode: Freeze | None, now: datetime
) -> Emergency:
    overrode_view = msgspec.to_builtins(overrode) if overrode is not None else None
    review = Review(
        route=route,
        action=action,
        actor=actor,
        reason=reason,
        overrode=overrode_view,
        opened_at=now,
    )
    evidence = {"emergency": True, "overrode": overrode_view}
    return Emergency(evidence=msgspec.json.encode(evidence), review=review_encoder.encode(review))

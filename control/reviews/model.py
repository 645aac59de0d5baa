"""The review item Struct and its request shapes. No I/O here."""

from typing import Annotated, Any, Literal

import msgspec

from control.durations import Time


class Review(msgspec.Struct, frozen=True, kw_only=True):
    """Opened with an emergency change by its script (`commit_route.lua`, `commit_group.lua`,
    `commit_group_rollout.lua`); stored in the route's reviews
    hash under the change's audit entry id (so `id` is that id, filled in when read)."""

    id: str = ""
    route: str
    action: str  # the emergency change: route.kill, route.rollback, route.promote, route.flip, …
    actor: str
    reason: str
    overrode: dict[str, Any] | None = None  # the freeze the change overrode, if any
    status: Literal["open", "acknowledged"] = "open"
    opened_at: Time | None = None
    ack_by: str | None = None
    ack_note: str | None = None
    ack_at: Time | None = None


class AckIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]  # what was checked


class ReviewQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: Literal["open", "acknowledged", "all"] = "open"


encoder = msgspec.json.Encoder()
decoder = msgspec.json.Decoder(Review)

"""Admin endpoints for a route's needs-review items (opened by emergency changes)."""

from control.api.endpoint import Call, endpoint
from control.reviews import store
from control.reviews.model import AckIn, Review, ReviewQuery
from control.routes import views


@endpoint(
    "GET",
    "/admin/routes/{route}/reviews",
    role="viewer",
    summary="Needs-review items of a route (?status=open|acknowledged|all)",
)
async def list_reviews(call: Call, query: ReviewQuery) -> list[Review]:
    route = call.param("route")
    await views.read(call.store, route)
    return await store.read(call.store, route, query.status)


@endpoint(
    "POST",
    "/admin/routes/{route}/reviews/{review}/ack",
    role="operator",
    summary="Acknowledge a needs-review item with a note (audited)",
)
async def ack_review(call: Call, body: AckIn) -> Review:
    return await store.acknowledge(
        call.store,
        call.param("route"),
        call.param("review"),
        actor=call.actor,
        note=body.note,
        now=call.now(),
    )


ENDPOINTS = [list_reviews, ack_review]

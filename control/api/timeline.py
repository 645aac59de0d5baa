"""Admin endpoint for a route's postmortem timeline (data and its Markdown rendering)."""

import time

import msgspec

from control.api.endpoint import Call, endpoint
from control.durations import DurationOrTime
from control.routes.audit import since_ms
from control.timeline.build import build
from control.timeline.model import TimelineOut
from control.timeline.render import render


class TimelineQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    since: DurationOrTime = (
        "2h"  # a duration back from now ("90m", "2h", "2d") or an ISO time; max 2 days
    )


@endpoint(
    "GET",
    "/admin/routes/{route}/timeline",
    role="viewer",
    summary="One ordered story: audit trail, decisions with evidence, windows, webhook "
    "deliveries, per-minute traffic, reach and review items, with a postmortem skeleton",
)
async def get_timeline(call: Call, query: TimelineQuery) -> TimelineOut:
    now = call.now()
    start_ms = since_ms(query.since, time.time())
    assert start_ms is not None
    since_s = min(start_ms // 1000, int(now.timestamp()))
    found = await build(call.store, call.param("route"), since_s, now)
    return TimelineOut(timeline=found, markdown=render(found))


ENDPOINTS = [get_timeline]

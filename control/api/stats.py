"""Admin endpoint for per-release quality statistics of a route over a window."""

import msgspec

from control.api.endpoint import Call, endpoint
from control.durations import Duration, duration_s
from control.errors import BROKEN_RULE, BadInput
from control.routes import views
from control.stats.compute import RouteStats, WindowError, parse_window, route_stats
from control.stats.read import bucket_keys, read_buckets, read_distinct_keys


class StatsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    window: Duration = "15m"  # 1m to 7d: "90s", "15m", "6h", "7d"


def window_seconds(window: str) -> int:
    """A query's `window` in seconds, or a 400 naming it: the pattern is the schema's
    (invalid_input); a well-formed duration outside 1m to 7d breaks a rule."""
    try:
        return parse_window(window)
    except WindowError as error:
        code = BROKEN_RULE if duration_s(window) is not None else None
        raise BadInput(str(error), field="window", code=code) from None


@endpoint(
    "GET",
    "/admin/routes/{route}/stats",
    role="viewer",
    summary="Per release: requests, errors by class, latency and TTFT quantiles, tokens, cost, "
    "feedback, observed share next to the configured weight",
)
async def read_stats(call: Call, query: StatsQuery) -> RouteStats:
    window_s = window_seconds(query.window)
    route = call.param("route")
    data = await views.read(call.store, route)
    now_s = int(call.now().timestamp())
    buckets = await read_buckets(call.store.redis, bucket_keys(route, window_s, now_s))
    distinct = await read_distinct_keys(
        call.store.redis, route, sorted(data.releases), window_s, now_s
    )
    return route_stats(
        route,
        query.window,
        window_s,
        now_s,
        buckets,
        data.releases,
        data.state.weights_bp,
        distinct,
    )


ENDPOINTS = [read_stats]

"""Admin endpoint for per-minute (or per-hour) series of a route's telemetry, for the dashboard's
charts. Reads the same buckets as the window totals (`control.api.stats`)."""

import msgspec

from control.api.endpoint import Call, endpoint
from control.api.stats import window_seconds
from control.durations import Duration
from control.routes import views
from control.stats.read import MINUTE_RESOLUTION_MAX_S, read_buckets
from control.stats.series import RouteSeries, route_series
from gateway.contract import telemetry as tk


class SeriesQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    window: Duration = "1h"  # 1m to 7d; one point a minute up to a day, else one an hour


def periods(window_s: int, now_s: int) -> tuple[int, range]:
    """(period length in s, the period numbers covering (now - window, now])."""
    period_s = tk.MINUTE_S if window_s <= MINUTE_RESOLUTION_MAX_S else tk.HOUR_S
    return period_s, range((now_s - window_s) // period_s + 1, now_s // period_s + 1)


@endpoint(
    "GET",
    "/admin/routes/{route}/series",
    role="viewer",
    summary="Per release and minute (hour beyond a day): requests, errors, thumbs, mean score, "
    "latency and TTFT quantiles, tokens, cost",
)
async def read_series(call: Call, query: SeriesQuery) -> RouteSeries:
    window_s = window_seconds(query.window)
    route = call.param("route")
    data = await views.read(call.store, route)
    period_s, numbers = periods(window_s, int(call.now().timestamp()))
    name = tk.minute_bucket if period_s == tk.MINUTE_S else tk.hour_bucket
    buckets = await read_buckets(call.store.redis, [name(route, n) for n in numbers])
    return route_series(
        route,
        query.window,
        period_s,
        list(numbers),
        buckets,
        data.releases,
        data.state.weights_bp,
    )


ENDPOINTS = [read_series]

"""`GET /metrics` of the control plane: release-operations gauges, read from Redis per scrape.

`turnout_open_reviews{route}` (emergency changes nobody acknowledged yet) and
`turnout_kill_switch{route,release}` (1 while a kill switch is engaged). A fresh registry per
scrape: no module-level state, nothing stale after a route is deleted.
"""

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from control import homes
from control.api.endpoint import STORE
from control.reviews.store import open_counts
from control.routes import views
from control.store import text
from gateway.contract import keys


async def serve_metrics(request: web.Request) -> web.Response:
    store = request.app[STORE]
    registry = CollectorRegistry()
    reviews = Gauge(
        "turnout_open_reviews",
        "Emergency changes on the route still waiting for an acknowledgement",
        ["route"],
        registry=registry,
    )
    killed = Gauge(
        "turnout_kill_switch",
        "1 while the route's kill switch sends every call to this release",
        ["route", "release"],
        registry=registry,
    )
    for route, count in (await open_counts(store)).items():
        reviews.labels(route).set(count)
    names = sorted(text(n) for n in await store.redis.smembers(keys.ROUTE_INDEX))
    found = await homes.all_groups(store.redis)
    for name in names:
        raw = await store.redis.get(keys.route_state(name, found.get(name)))
        if raw is None:
            continue
        state = views.decode_state(raw)
        if state.kill_switch is not None:
            killed.labels(name, state.kill_switch).set(1)
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

"""`GET /v1/models`, `/healthz`, `/readyz` and `/metrics`."""

import time

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.keys import CONTEXT, REGISTRY


async def list_models(request: web.Request) -> web.Response:
    table = request.app[CONTEXT].holder.table
    created = int(time.time())
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "turnout"}
        for name in sorted(table.routes)
    ]
    return web.Response(
        body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    holder = request.app[CONTEXT].holder
    # Degraded (Redis lost its data) is still 200: this replica serves its last known good
    # snapshot correctly, and every replica shares the condition, so failing readiness would
    # take all of them out of the load balancer. Alert on `degraded` / turnout_redis_data_lost.
    status = "degraded" if holder.data_lost else "ready" if holder.loaded else "not_ready"
    body = {
        "ready": holder.loaded,
        "status": status,
        "degraded": holder.data_lost,
        "source": holder.source,
        "redis_connected": holder.redis_connected,
        "staleness_s": None if holder.last_confirmed == 0 else round(holder.staleness_s(), 3),
        "routes": {name: route.revision for name, route in holder.table.routes.items()},
        "rejected": holder.table.rejected,
        "unconfirmed": holder.unconfirmed,  # served although Redis lacks them
    }
    return web.Response(
        status=200 if holder.loaded else 503,
        body=orjson.dumps(body),
        content_type="application/json",
    )


async def metrics(request: web.Request) -> web.Response:
    output = generate_latest(request.app[REGISTRY])
    return web.Response(body=output, headers={"Content-Type": CONTENT_TYPE_LATEST})

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
    body = {
        "ready": holder.loaded,
        "source": holder.source,
        "redis_connected": holder.redis_connected,
        "staleness_s": None if holder.last_confirmed == 0 else round(holder.staleness_s(), 3),
        "routes": {name: route.revision for name, route in holder.table.routes.items()},
        "rejected": holder.table.rejected,
    }
    return web.Response(
        status=200 if holder.loaded else 503,
        body=orjson.dumps(body),
        content_type="application/json",
    )


async def metrics(request: web.Request) -> web.Response:
    output = generate_latest(request.app[REGISTRY])
    return web.Response(body=output, headers={"Content-Type": CONTENT_TYPE_LATEST})

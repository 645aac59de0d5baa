"""The admin API: aiohttp app, auth, endpoint tables, error layer, OpenAPI. Handlers only wire
requests to `control.registry` and `control.routes`; no Redis calls of their own."""

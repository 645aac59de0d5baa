"""The control plane's probes for containers and Kubernetes: `/healthz` (the process serves)
and `/readyz` (Redis answers), both without a token."""


async def test_probes_follow_redis(admin, redis_server, http):
    async with http.get(f"{admin.url}/healthz") as response:
        assert response.status == 200
    async with http.get(f"{admin.url}/readyz") as response:
        assert response.status == 200 and (await response.json()) == {"ready": True}
    redis_server.kill()
    async with http.get(f"{admin.url}/readyz") as response:
        body = await response.json()
        assert response.status == 503 and body["ready"] is False and body["redis"]
    async with http.get(f"{admin.url}/healthz") as response:
        assert response.status == 200  # alive: a restart would not bring Redis back
    redis_server.start()
    async with http.get(f"{admin.url}/readyz") as response:
        assert response.status == 200

"""Control-plane fixtures: the admin API on a real redis-server, and a JSON client for it."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import Admin, AdminFactory, RedisProcess


class Api:
    """Calls the admin API over real HTTP and returns (status, decoded JSON)."""

    def __init__(self, http: aiohttp.ClientSession, admin: Admin) -> None:
        self.http = http
        self.admin = admin

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        role: str | None = "admin",
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Any]:
        sent = {**(Admin.auth(role) if role else {}), **(headers or {})}
        async with self.http.request(
            method, f"{self.admin.url}{path}", json=body, data=data, headers=sent
        ) as response:
            return response.status, await response.json()

    async def ok(self, method: str, path: str, body: Any = None, *, role: str = "admin") -> Any:
        status, data = await self.call(method, path, body, role=role)
        assert status in (200, 201), (status, data)
        return data

    async def error(
        self, method: str, path: str, body: Any = None, *, role: str = "admin"
    ) -> tuple[int, dict[str, Any]]:
        status, data = await self.call(method, path, body, role=role)
        assert status >= 400, (status, data)
        return status, data["error"]


@pytest.fixture
async def admin(redis_server: RedisProcess, admin_factory: AdminFactory) -> Admin:
    return await admin_factory(redis_server.url)


@pytest.fixture
async def api(admin: Admin, http: aiohttp.ClientSession) -> AsyncIterator[Api]:
    yield Api(http, admin)


async def seed_route(
    api: Api,
    provider_url: str,
    route: str = "support",
    systems: tuple[str, ...] = ("You are helpful.", "You are concise."),
) -> dict[str, Any]:
    """Provider `sim`, prompt versions support@1.., model sim-chat@1, and a route with one
    release per prompt (r1 stable at 100%, the others at 0%). Returns the route."""
    await api.ok("PUT", "/admin/providers/sim", {"base_url": provider_url, "timeout_s": 10})
    for system in systems:
        await api.ok("POST", "/admin/prompts/support/versions", {"system": system})
    await api.ok(
        "POST",
        "/admin/models/sim-chat/versions",
        {"provider": "sim", "upstream_model": "sim-chat", "params": {"temperature": 0.2}},
    )
    await api.ok(
        "POST",
        "/admin/routes",
        {"name": route, "release": {"prompt": "support@1", "model": "sim-chat@1"}},
    )
    for number in range(2, len(systems) + 1):
        await api.ok(
            "POST",
            f"/admin/routes/{route}/releases",
            {"prompt": f"support@{number}", "model": "sim-chat@1", "note": f"prompt {number}"},
            role="operator",
        )
    return await api.ok("GET", f"/admin/routes/{route}")


async def redis_contents(redis: Any) -> dict[bytes, bytes]:
    """Every key with its serialized value: equal before and after means nothing was written."""
    return {key: await redis.dump(key) for key in sorted(await redis.keys("*"))}

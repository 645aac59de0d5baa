"""Control-plane fixtures: the admin API on a real redis-server, and a JSON client for it."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from tests.conftest import Admin, AdminFactory, LoopbackApp, RedisProcess


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


# --- webhooks: a real receiver on loopback and an admin API whose worker polls fast ------------

SECRET = "correct-horse-battery-staple"
FAST = {"webhook_poll_s": 0.01, "webhook_retry_base_s": 0.1, "webhook_retry_max_s": 2.0}


class Receiver:
    """Records every request; answers 500 to the first `fail_first`, or hangs when told."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, dict[str, str], bytes, int]] = []
        self.fail_first = 0
        self.always_fail = False
        self.hang = asyncio.Event()
        self.released = asyncio.Event()  # set at teardown: hanging requests end
        self.hanging = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.hang.is_set():
            self.hanging += 1
            await asyncio.wait_for(self.released.wait(), timeout=30)
        failing = self.always_fail or len(self.requests) < self.fail_first
        status = 500 if failing else 204
        self.requests.append((time.perf_counter(), dict(request.headers), body, status))
        return web.Response(status=status)

    def delivered(self) -> list[tuple[dict[str, str], dict]]:
        return [(h, msgspec.json.decode(b)) for _, h, b, s in self.requests if s == 204]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    recorder = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", recorder.handle)
    served = await LoopbackApp.serve(web.AppRunner(app, access_log=None))
    yield recorder, served.url
    recorder.released.set()
    await served.stop()


@pytest.fixture
async def fast_api(redis_server, admin_factory, http, monkeypatch) -> Api:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    return Api(http, await admin_factory(redis_server.url, **FAST))

"""What the dashboard needs from the admin API: whoami, per-minute series, the live event
stream (auth, route and rollout events, bounded queues, shutdown) and the static files with a
strict Content-Security-Policy."""

import asyncio
import re
import time
from html.parser import HTMLParser
from typing import Any

import aiohttp
import msgspec
import pytest
import redis.asyncio as aioredis

from control.live.hub import QUEUE_LIMIT, RESYNC, Subscriber
from control.ui.serve import load_assets
from gateway.contract import keys
from gateway.contract.events import RouteChanged, event_encoder
from simulator.behaviour import Behaviour
from tests.conftest import Admin, wait_for
from tests.control.conftest import seed_route

ROUTE = "/admin/routes/support"


async def test_whoami_names_the_token_holder_and_role(api):
    for role, name in (("viewer", "vic"), ("operator", "olga"), ("admin", "alice")):
        assert await api.ok("GET", "/admin/whoami", role=role) == {"name": name, "role": role}
    status, body = await api.call("GET", "/admin/whoami", role=None)
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_series_counts_each_minute_per_release(
    api, simulator, redis_server, gateway_factory, http
):
    await seed_route(api, simulator.url)
    route = await api.ok("GET", ROUTE)
    body = {"weights": {"r1": 50, "r2": 50}, "expected_revision": route["revision"], "reason": "x"}
    route = await api.ok("PUT", f"{ROUTE}/weights", body)
    simulator.state.behaviours["sim-chat"] = Behaviour(error_every=4, error_status=500)
    gateway = await gateway_factory(redis_server.url, flush_interval_s=0.1)
    await wait_for(
        lambda: gateway.context.holder.table.routes["support"].revision == route["revision"]
    )
    served: dict[str, int] = {}
    failed: dict[str, int] = {}
    for index in range(80):
        chat = {"model": "support", "messages": [{"role": "user", "content": "hi"}]}
        chat["user"] = f"user-{index}"
        async with http.post(f"{gateway.url}/v1/chat/completions", json=chat) as response:
            await response.read()
            release = response.headers["X-Turnout-Release"]
            served[release] = served.get(release, 0) + 1
            if response.status != 200:
                failed[release] = failed.get(release, 0) + 1

    async def flushed() -> bool:
        data = await api.ok("GET", f"{ROUTE}/series?window=15m", role="viewer")
        return sum(sum(r["requests"]) for r in data["releases"].values()) == 80

    await wait_for(flushed, timeout_s=10, step_s=0.1)
    series = await api.ok("GET", f"{ROUTE}/series?window=15m", role="viewer")
    assert series["period_s"] == 60 and len(series["t"]) == 15
    assert series["t"] == sorted(series["t"]) and abs(series["t"][-1] - time.time()) < 120
    for release, count in served.items():
        column = series["releases"][release]
        assert sum(column["requests"]) == count
        assert sum(column["errors"]) == failed.get(release, 0)
        assert all(len(values) == 15 for values in column.values())
        minutes = [i for i, n in enumerate(column["requests"]) if n]
        for i in minutes:  # the rate is the minute's own errors over its own calls
            assert column["error_rate"][i] == column["errors"][i] / column["requests"][i]
            assert column["latency_p50_ms"][i] is not None
        assert all(column["error_rate"][i] is None for i in range(15) if i not in minutes)
    status, error = await api.error("GET", f"{ROUTE}/series?window=9y", role="viewer")
    assert status == 400 and error["field"] == "window"
    status, error = await api.error("GET", "/admin/routes/nope/series", role="viewer")
    assert status == 404


class Stream:
    """An open `GET /admin/events` response, read event by event."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.buffer = b""

    async def next(self, timeout_s: float = 5.0) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout_s
        while b"\n\n" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, "no event in time"
            chunk = await asyncio.wait_for(self.response.content.readany(), left)
            assert chunk, "stream ended"
            self.buffer += chunk
        block, _, self.buffer = self.buffer.partition(b"\n\n")
        fields = dict(line.split(b": ", 1) for line in block.split(b"\n"))
        return fields[b"event"].decode(), msgspec.json.decode(fields[b"data"])

    async def until(self, event: str, timeout_s: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            name, data = await self.next(max(deadline - time.monotonic(), 0.01))
            if name == event:
                return data


async def test_event_stream_needs_a_token_in_the_header(api, admin, http):
    await seed_route(api, "http://127.0.0.1:9/v1")
    async with http.get(f"{admin.url}/admin/events?route=support") as response:
        assert response.status == 401
    # a token in the query string is no way in
    query = f"?route=support&token={Admin.token('viewer')}"
    async with http.get(f"{admin.url}/admin/events{query}") as response:
        assert response.status == 401
    async with http.get(
        f"{admin.url}/admin/events?route=nope", headers=Admin.auth("viewer")
    ) as response:
        assert response.status == 404
    async with http.get(
        f"{admin.url}/admin/events?route=bad%20name", headers=Admin.auth("viewer")
    ) as response:
        assert response.status == 400


async def test_event_stream_carries_route_and_rollout_changes(api, admin, http):
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    async with http.get(
        f"{admin.url}/admin/events?route=support", headers=Admin.auth("viewer")
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        stream = Stream(response)
        assert await stream.until("hello") == {"actor": "vic", "route": "support"}
        body = {"weights": {"r1": 90, "r2": 10}, "expected_revision": route["revision"]}
        await api.ok("PUT", f"{ROUTE}/weights", {**body, "reason": "canary"}, role="operator")
        changed = await stream.until("route")
        assert changed == {"type": "route", "route": "support", "revision": route["revision"] + 1}
        back = {"reason": "back"}
        await api.ok("POST", f"{ROUTE}/rollback", back, role="operator")
        start = {"release": "r2", "reason": "try", "steps": [10, 100], "skip_gate": True}
        await api.ok("POST", f"{ROUTE}/rollouts", start, role="operator")
        event = await stream.until("rollout")
        assert event["route"] == "support"
        assert event["rollout"]["release"] == "r2" and event["rollout"]["status"] == "running"
        assert event["progress"]["fraction"] >= 0
        await api.ok("POST", f"{ROUTE}/rollouts/pause", {"reason": "look"}, role="operator")
        event = await stream.until("rollout")  # a pause changes no route, only the record
        assert event["rollout"]["status"] == "paused"


async def test_every_route_stream_sees_changes_of_all_routes(api, admin, http):
    await seed_route(api, "http://127.0.0.1:9/v1", route="one")
    await seed_route(api, "http://127.0.0.1:9/v1", route="two")
    async with http.get(f"{admin.url}/admin/events", headers=Admin.auth("viewer")) as response:
        stream = Stream(response)
        assert (await stream.until("hello"))["route"] is None
        for name in ("one", "two"):
            await api.ok("POST", f"/admin/routes/{name}/pin", {"reason": "hold"}, role="operator")
            assert (await stream.until("route"))["route"] == name


def test_a_slow_subscriber_keeps_a_bounded_queue_and_is_told_to_resync():
    subscriber = Subscriber("support")
    for index in range(QUEUE_LIMIT * 3):
        subscriber.offer(f"event {index}".encode())
    assert subscriber.queue.qsize() <= QUEUE_LIMIT
    waiting = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
    assert RESYNC in waiting  # the backlog was dropped for one resync …
    assert waiting[-1] == f"event {QUEUE_LIMIT * 3 - 1}".encode()  # … and newer events follow


async def test_open_streams_do_not_hold_up_shutdown(redis_server, admin_factory, http):
    admin = await admin_factory(redis_server.url)
    response = await http.get(f"{admin.url}/admin/events", headers=Admin.auth("viewer"))
    await Stream(response).until("hello")
    started = time.monotonic()
    await admin.stop()
    assert time.monotonic() - started < 3
    response.close()


async def test_dashboard_files_are_served_with_a_strict_policy(admin, http):
    async with http.get(f"{admin.url}/ui/") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        policy = response.headers["Content-Security-Policy"]
        page = await response.text()
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(f"{admin.url}/ui/js/app.js") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert response.headers["Content-Encoding"] == "gzip"  # aiohttp asks for it
        assert int(response.headers["Content-Length"]) < len(await response.read())
        etag = response.headers["ETag"]
    plain = {"Accept-Encoding": "identity"}
    async with http.get(f"{admin.url}/ui/js/app.js", headers=plain) as response:
        assert "Content-Encoding" not in response.headers
        assert await response.read() == load_assets()["js/app.js"].body
    async with http.get(f"{admin.url}/ui/js/app.js", headers={"If-None-Match": etag}) as response:
        assert response.status == 304
    async with http.get(f"{admin.url}/ui/../control/settings.py") as response:
        assert response.status == 404
    async with http.get(f"{admin.url}/ui/js/nothing.js") as response:
        assert response.status == 404
    async with http.get(f"{admin.url}/ui", allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == "/ui/"
    assert "<script" in page


class _InlineFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.problems += [f"{tag} has {n}" for n in names if n.startswith("on") or n == "style"]
        if tag == "script" and "src" not in names:
            self.problems.append("inline script")
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("script with a body")


@pytest.mark.parametrize("name", ["index.html"])
def test_pages_have_no_inline_script_or_style(name):
    finder = _InlineFinder()
    finder.feed(load_assets()[name].body.decode())
    assert finder.problems == []


def test_scripts_never_write_html_from_strings():
    """Registry text must only ever become text nodes: no innerHTML, outerHTML,
    insertAdjacentHTML, document.write or eval anywhere in the shipped scripts."""
    banned = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    )
    scripts = {n: a.body.decode() for n, a in load_assets().items() if n.endswith(".js")}
    assert len(scripts) >= 10
    assert {n: banned.findall(text) for n, text in scripts.items() if banned.search(text)} == {}


async def test_a_stream_is_told_to_resync_after_redis_comes_back(api, admin, http, redis_server):
    """Changes published while the hub's subscription was down are lost: the pages are told to
    read everything again once it is back, and later changes flow as before."""
    route = await seed_route(api, "http://127.0.0.1:9/v1")
    async with http.get(
        f"{admin.url}/admin/events?route=support", headers=Admin.auth("viewer")
    ) as response:
        stream = Stream(response)
        await stream.until("hello")
        redis_server.kill()
        await asyncio.sleep(0.5)
        redis_server.start()
        assert await stream.until("resync", timeout_s=10) == {
            "reason": "missed events: read the state again"
        }
        # (the killed server lost its data; a published change shows the hub listens again)
        event = RouteChanged(route="support", revision=route["revision"] + 7)
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            await client.publish(keys.CHANGES_CHANNEL, event_encoder.encode(event))
        finally:
            await client.aclose()
        assert (await stream.until("route"))["revision"] == route["revision"] + 7

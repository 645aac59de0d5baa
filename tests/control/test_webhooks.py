"""Webhooks against a real local receiver (aiohttp on loopback) that fails its first tries: the
signature verifies, retries back off exponentially, order per route holds, dead letters and
redelivery work, Slack formatting, and a flip's latency is unchanged while the receiver hangs."""

import asyncio
import hashlib
import hmac
import itertools
import statistics
import time

from control.notify.sign import verify
from tests.conftest import wait_for
from tests.control.conftest import SECRET, seed_route

ROUTE = "/admin/routes/support"


async def flip(api, weights, reason):
    revision = (await api.ok("GET", ROUTE))["revision"]
    body = {"weights": weights, "expected_revision": revision, "reason": reason}
    return await api.ok("PUT", f"{ROUTE}/weights", body, role="operator")


def check_signature(headers, body) -> None:
    timestamp, signature = headers["X-Turnout-Timestamp"], headers["X-Turnout-Signature"]
    assert verify(SECRET.encode(), timestamp, body, signature)
    # the README's verification snippet, written out independently
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest("sha256=" + mac.hexdigest(), signature)
    assert not verify(b"wrong secret", timestamp, body, signature)
    assert abs(int(timestamp) - time.time()) < 60


async def test_signed_retried_in_order_dead_lettered_and_redelivered(fast_api, receiver):
    api, (recorder, url) = fast_api, receiver
    await seed_route(api, "http://127.0.0.1:9/v1")
    hook = {
        "url": f"{url}/hooks/ops",
        "events": ["weights.changed", "emergency.change", "review.needed"],
        "secret_env": "HOOK_SECRET",
        "max_attempts": 4,
    }
    created = await api.ok("PUT", "/admin/webhooks/ops", hook)
    assert created["webhook"]["secret_env"] == "HOOK_SECRET" and SECRET not in str(created)
    slack = {"url": f"{url}/slack", "events": ["review.needed"], "secret_env": "HOOK_SECRET"}
    await api.ok("PUT", "/admin/webhooks/chat", {**slack, "format": "slack"})
    await asyncio.sleep(0.1)  # the worker starts listening from now
    recorder.fail_first = 3
    revisions = []
    for percent in (5, 25, 50):
        revisions.append(
            (await flip(api, {"r1": 100 - percent, "r2": percent}, "step"))["revision"]
        )

    await wait_for(lambda: len(recorder.delivered()) == 3, timeout_s=10)
    delivered = recorder.delivered()
    assert [body["revision"] for _, body in delivered] == revisions  # order per route kept
    assert [body["type"] for _, body in delivered] == ["weights.changed"] * 3
    for headers, body in delivered:
        raw = next(b for _, h, b, _ in recorder.requests if h is headers)
        check_signature(headers, raw)
        assert headers["X-Turnout-Event"] == "weights.changed"
        assert {i["release"] for i in body["impact"]} == {"r1", "r2"}
    first_id = delivered[0][0]["X-Turnout-Delivery"]
    attempts = [t for t, h, _, _ in recorder.requests if h["X-Turnout-Delivery"] == first_id]
    assert len(attempts) == 4  # three failures, then delivered
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] < gaps[1] < gaps[2], gaps  # exponential backoff (jitter within ±25%)
    assert gaps[0] >= 0.07, gaps
    # nothing of the later events went out before the first one was delivered
    first_done = attempts[-1]
    later = {h["X-Turnout-Delivery"] for t, h, _, _ in recorder.requests if t < first_done}
    assert later == {first_id}
    log = await api.ok("GET", "/admin/webhook-deliveries?webhook=ops&status=delivered")
    entry = next(d for d in log if d["id"] == first_id)
    assert entry["attempts"] == 4 and len(entry["log"]) == 4 and entry["last_status"] == 204

    recorder.always_fail = True
    killed = await api.ok(
        "POST", f"{ROUTE}/kill", {"release": "r1", "reason": "bad"}, role="operator"
    )
    assert killed["kill_switch"] == "r1"

    async def dead() -> list:
        return await api.ok("GET", "/admin/webhook-deliveries?webhook=ops&status=dead")

    await wait_for(lambda: _count(dead(), 3), timeout_s=15, step_s=0.05)
    letters = await dead()
    assert sorted(d["event"]["type"] for d in letters) == [
        "emergency.change",
        "review.needed",
        "weights.changed",
    ]
    assert all(d["attempts"] == 4 and "dead-lettered" in d["log"][-1] for d in letters)
    chat = await api.ok("GET", "/admin/webhook-deliveries?webhook=chat")
    assert [d["event"]["type"] for d in chat] == ["review.needed"]

    recorder.always_fail = False
    before = len(recorder.delivered())
    target = next(d for d in letters if d["event"]["type"] == "emergency.change")
    again = await api.ok(
        "POST", f"/admin/webhook-deliveries/{target['id']}/redeliver", role="operator"
    )
    assert again["status"] == "pending"
    await wait_for(lambda: len(recorder.delivered()) > before, timeout_s=10)
    headers, body = recorder.delivered()[-1]
    assert headers["X-Turnout-Delivery"] == target["id"] and body["type"] == "emergency.change"
    assert body["detail"]["evidence"]["emergency"] is True
    # the Slack hook's delivery kept retrying (8 attempts by default) and now goes through
    await wait_for(lambda: any("text" in b for _, b in recorder.delivered()), timeout_s=10)
    slack_bodies = [b for h, b in recorder.delivered() if "text" in b]
    assert slack_bodies and "review.needed on route support by olga: bad" in slack_bodies[0]["text"]
    status, error = await api.error("PUT", "/admin/webhooks/x", {**hook, "secret_env": "TURNOUT_X"})
    assert status == 400 and error["field"] == "secret_env"
    status, error = await api.error("PUT", "/admin/webhooks/x", {**hook, "events": ["nope"]})
    assert status == 400 and error["field"] == "events[0]"


async def _count(found, n) -> bool:
    return len(await found) >= n


async def test_flip_latency_is_unchanged_while_the_receiver_hangs(fast_api, receiver):
    api, (recorder, url) = fast_api, receiver
    await seed_route(api, "http://127.0.0.1:9/v1")

    async def flips(count):
        took = []
        for index in range(count):
            started = time.perf_counter()
            await flip(api, {"r1": 100 - index % 2, "r2": index % 2}, "latency")
            took.append(time.perf_counter() - started)
        return statistics.median(took)

    baseline = await flips(20)
    recorder.hang.set()
    hook = {"url": url, "secret_env": "HOOK_SECRET", "timeout_s": 30}
    await api.ok("PUT", "/admin/webhooks/slow", hook)
    await asyncio.sleep(0.1)
    await flip(api, {"r1": 50, "r2": 50}, "start hanging")
    await wait_for(lambda: recorder.hanging == 1, timeout_s=5)
    hanging = await flips(20)
    assert recorder.hanging == 1  # one request hangs; its queue waits, flips do not
    assert hanging < 3 * baseline + 0.005, (baseline, hanging)

    async def all_queued() -> bool:
        path = "/admin/webhook-deliveries?webhook=slow&status=pending"
        return len(await api.ok("GET", path)) == 21  # queued behind the hanging one

    await wait_for(all_queued, timeout_s=5)
    assert recorder.hanging == 1


async def test_freeze_started_and_ended_and_release_created(fast_api, receiver):
    api, (recorder, url) = fast_api, receiver
    hook = {
        "url": url,
        "secret_env": "HOOK_SECRET",
        "events": ["freeze.started", "freeze.ended", "release.created"],
        "route": "support",
    }
    await api.ok("PUT", "/admin/webhooks/ops", hook)
    await asyncio.sleep(0.05)
    await seed_route(api, "http://127.0.0.1:9/v1")
    await seed_route(api, "http://127.0.0.1:9/v1", route="other")
    await api.ok("PUT", "/admin/freeze", {"reason": "launch", "route": "support"}, role="operator")
    await api.ok("PUT", "/admin/freeze", {"reason": "other", "route": "other", "name": "x"})
    await wait_for(lambda: len(recorder.delivered()) == 3, timeout_s=5)
    await api.ok("DELETE", "/admin/windows/freeze?reason=done", role="operator")
    await wait_for(lambda: len(recorder.delivered()) == 4, timeout_s=5)
    await asyncio.sleep(0.1)
    bodies = [body for _, body in recorder.delivered()]
    assert [(b["type"], b["route"]) for b in bodies] == [
        ("release.created", "support"),
        ("release.created", "support"),
        ("freeze.started", "support"),
        ("freeze.ended", "support"),  # the other route's window is not this webhook's
    ]
    assert bodies[2]["detail"]["window"]["name"] == "freeze" and bodies[2]["reason"] == "launch"
    assert [b["detail"]["release"] for b in bodies[:2]] == ["r1", "r2"]

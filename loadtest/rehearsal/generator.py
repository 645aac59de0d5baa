"""The open-loop load generator: fires each scheduled call when it is due, whatever the gateway
is doing, and records what came back (status, release header, replica, times) and the feedback
the simulated user sends later.

A slow gateway piles calls up in flight (bounded: beyond `max_in_flight` a call is shed and
counted) but never delays the next one; the generator's own lateness is measured per call (sent
minus due), so a run says when the generator, not the gateway, fell behind.

Calls go through the gateway's own lean HTTP/1.1 keep-alive client (`gateway.upstream`) rather
than aiohttp's: about 120 µs of CPU per call against 190 µs, which matters on a two-core machine
where the generator competes with the stack it measures.
"""

import asyncio
import time

import orjson

from gateway.upstream.client import UpstreamClient, UpstreamTarget
from loadtest.rehearsal import records
from loadtest.rehearsal.records import CallLog
from loadtest.rehearsal.scenario import Feedback, Scenario
from loadtest.rehearsal.schedule import EMBEDDINGS, NOT_PINNED, STREAM, Schedule

_SCORE_SPREAD = 0.15  # SD of a user's score around the release's quality
_WAKE_S = 0.05  # the firing loop checks for a stop at least this often


class Generator:
    def __init__(
        self,
        scenario: Scenario,
        schedule: Schedule,
        gateways: list[str],
        log: CallLog,
    ) -> None:
        self.route = scenario.route.name
        self.schedule = schedule
        self.log = log
        self.max_in_flight = scenario.run.max_in_flight
        timeout = scenario.run.request_timeout_s  # with no byte from the gateway for this long
        self.client = UpstreamClient()
        self.replicas = len(gateways)
        self.targets = {
            path: [UpstreamTarget(url.rstrip("/"), path, None, timeout) for url in gateways]
            for path in ("/v1/chat/completions", "/v1/embeddings", "/v1/feedback")
        }
        self.pools = [
            self.client.pool_for(target, scenario.run.connections)
            for target in self.targets["/v1/feedback"]
        ]
        release_ids = scenario.release_ids()
        self.feedback: dict[int, tuple[Feedback, float]] = {
            log.release_index(r): (
                scenario.releases[r].feedback,
                scenario.releases[r].provider.quality,
            )
            for r in release_ids
        }
        self.pin_names = release_ids
        self._due = schedule.due_s.tolist()
        self._user = schedule.user.tolist()
        self._kind = schedule.kind.tolist()
        self._pinned = schedule.pinned.tolist()
        self._calls: set[asyncio.Task[None]] = set()
        self._feedback_tasks: set[asyncio.Task[None]] = set()
        self._pending_feedback: dict[int, asyncio.TimerHandle] = {}
        self.started = 0.0  # perf_counter() at the load's start
        self.fired = 0  # calls released (sent or shed) so far
        self.answered = 0
        self.failed = 0  # answered with a status >= 400
        self.feedback_unsent = 0  # decided, but due after the run ended
        self._closing = False

    def now(self) -> float:
        # perf_counter, not loop.time(): uvloop's loop clock has millisecond steps
        return time.perf_counter() - self.started

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    async def run(self, stop: asyncio.Event) -> None:
        """Fire every call at its due time until the schedule ends or `stop` is set."""
        if not self.started:
            self.started = time.perf_counter()
        clock, due, total, row = time.perf_counter, self._due, len(self._due), 0
        while row < total and not stop.is_set():
            wait = due[row] - (clock() - self.started)
            if wait > 0:
                await asyncio.sleep(min(wait, _WAKE_S))
                continue
            now = clock() - self.started
            while row < total and due[row] <= now:
                self._fire(row)
                row += 1
        self.fired = row
        self.log.outcome[row:] = records.UNSENT

    def _fire(self, row: int) -> None:
        self.fired = row + 1
        if len(self._calls) >= self.max_in_flight:
            self.log.outcome[row] = records.SHED
            return
        task = asyncio.create_task(self._call(row))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    def _request(self, row: int) -> tuple[str, bytes, bytes]:
        key = self.schedule.keys[self._user[row]]
        kind = self._kind[row]
        pinned = self._pinned[row]
        headers = b""
        if pinned != NOT_PINNED:
            headers = b"X-Turnout-Release: %s\r\n" % self.pin_names[pinned].encode()
        if kind == EMBEDDINGS:
            body = {"model": self.route, "input": "rehearsal", "user": key}
            return "/v1/embeddings", orjson.dumps(body), headers
        body = {
            "model": self.route,
            "messages": [{"role": "user", "content": "How do I reset my password?"}],
            "user": key,
            "stream": kind == STREAM,
        }
        return "/v1/chat/completions", orjson.dumps(body), headers

    async def _call(self, row: int) -> None:
        log, clock = self.log, time.perf_counter
        replica = row % self.replicas
        path, body, headers = self._request(row)
        streaming = self._kind[row] == STREAM
        sent = clock() - self.started
        log.sent_s[row] = sent
        log.lag_s[row] = sent - self._due[row]
        log.replica[row] = replica
        target = self.targets[path][replica]
        try:
            exchange = await self.client.send(target, self.pools[replica], body, streaming, headers)
            head = await exchange.head()
            if streaming:
                async for _chunk in exchange.chunks():
                    if log.first_byte_s[row] != log.first_byte_s[row]:  # still NaN
                        log.first_byte_s[row] = clock() - self.started
            else:
                await exchange.body()
        except TimeoutError:
            log.lost(row, "timeout")
            return
        except OSError as error:  # refused, reset, closed early, not HTTP
            log.lost(row, type(error).__name__)
            return
        status = head.status
        release = head.header("x-turnout-release")
        call_id = head.header("x-turnout-call-id")
        log.done_s[row] = clock() - self.started
        log.status[row] = status
        log.outcome[row] = records.ANSWERED
        index = log.release_index(release)
        log.release[row] = index
        self.answered += 1
        self.failed += status >= 400
        if status == 200 and call_id and self._kind[row] != EMBEDDINGS:
            self._decide_feedback(row, index, call_id)

    def _decide_feedback(self, row: int, release: int, call_id: str) -> None:
        found = self.feedback.get(release)
        if found is None or self._pinned[row] != NOT_PINNED:
            return  # pinning clients (eval jobs) do not rate
        behaviour, quality = found
        schedule = self.schedule
        if schedule.rate_draw[row] >= behaviour.rating_probability:
            return
        payload: dict[str, object] = {"call_id": call_id}
        if schedule.score_draw[row] < behaviour.score_share:
            score = min(max(quality + _SCORE_SPREAD * schedule.score_noise[row], 0.0), 1.0)
            payload["score"] = round(float(score), 4)
            self.log.feedback[row] = records.SCORE
            self.log.score[row] = payload["score"]
        else:
            down = schedule.down_draw[row] < behaviour.thumbs_down
            payload["value"] = "down" if down else "up"
            self.log.feedback[row] = records.DOWN if down else records.UP
        delay = behaviour.delay_s * float(schedule.delay_draw[row])
        handle = asyncio.get_running_loop().call_later(
            delay, self._send_feedback, row, orjson.dumps(payload)
        )
        self._pending_feedback[row] = handle

    def _send_feedback(self, row: int, payload: bytes) -> None:
        self._pending_feedback.pop(row, None)
        if self._closing:
            self.feedback_unsent += 1
            return
        task = asyncio.create_task(self._feedback_call(row, payload))
        self._feedback_tasks.add(task)
        task.add_done_callback(self._feedback_tasks.discard)

    async def _feedback_call(self, row: int, payload: bytes) -> None:
        # another replica than the call's, as a load balancer would pick: attribution goes
        # through Redis, not through the replica that served the call
        replica = (int(self.log.replica[row]) + 1) % self.replicas
        self.log.feedback_sent_s[row] = self.now()
        target = self.targets["/v1/feedback"][replica]
        try:
            exchange = await self.client.send(target, self.pools[replica], payload, False)
            head = await exchange.head()
            await exchange.body()
            self.log.feedback_status[row] = head.status
        except OSError:  # TimeoutError included
            self.log.feedback_status[row] = -1

    async def drain(self, timeout_s: float) -> None:
        """Wait for calls in flight (then for feedback already sent); drop feedback not yet due."""
        self._closing = True
        for handle in self._pending_feedback.values():
            handle.cancel()
        self.feedback_unsent = len(self._pending_feedback)
        self._pending_feedback.clear()
        for group in (self._calls, self._feedback_tasks):
            if not group:
                continue
            _done, pending = await asyncio.wait(set(group), timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        # feedback decided by calls that ended during the wait is not sent either
        for handle in self._pending_feedback.values():
            handle.cancel()
        self.feedback_unsent += len(self._pending_feedback)
        self._pending_feedback.clear()
        self.client.close()
        await asyncio.sleep(0.01)  # the aborted transports close on the loop's next turns
        lost = self.log.outcome == records.PENDING
        self.log.outcome[lost] = records.LOST
        count = int(lost[: self.fired].sum())
        if count:
            self.log.transport_errors["unfinished"] = count

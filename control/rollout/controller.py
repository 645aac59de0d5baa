"""The rollout controller: one leader among any number of control-plane replicas, looking at
every running rollout once per tick.

Leadership is a Redis lease (`lease.lua`): taken with the next fencing token, renewed every tick.
A replica acts only while its lease is surely still its own (the time it sent the renewal plus
the lease time); every write it makes carries the token, so a replica that lost the lease without
knowing it is refused by the scripts. State lives in Redis, so a new leader resumes where the old
one stopped.
"""

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import deque

import msgspec
from redis.exceptions import RedisError

from control import keyspace
from control.grouprollout import tick as group_tick
from control.rollout.tick import Tick, look_at
from control.store import Store, text

log = logging.getLogger("turnout.controller")

COSTS_KEPT = 1000


class ControllerStatus(msgspec.Struct, frozen=True, kw_only=True):
    replica: str
    leader: bool
    fencing_token: int | None
    lease_ms: int
    tick_s: float
    ticks: int  # looks taken as leader
    rollouts: int  # routes and groups looked at in the last tick
    failures: int  # looks that failed unexpectedly (logged)
    tick_ms_p50: float | None  # one tick over every running rollout, as leader
    tick_ms_p99: float | None
    tick_ms_max: float | None


class Controller:
    def __init__(self, store: Store, *, tick_s: float, lease_ms: int, settle_s: float) -> None:
        self.store = store
        self.tick_s = tick_s
        self.lease_ms = lease_ms
        self.settle_s = settle_s
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.token: int | None = None
        self.leader = False
        self.valid_until = 0.0  # monotonic: the lease is surely ours until then
        self.ticks = 0
        self.rollouts = 0
        self.costs_s: deque[float] = deque(maxlen=COSTS_KEPT)
        self.failures = 0  # looks that raised (logged); the route is looked at again next tick
        self._stopping = False

    async def run(self) -> None:
        while not self._stopping:
            began = time.monotonic()
            try:
                await self.tick()
            except (RedisError, OSError) as error:
                self.leader = False
                log.warning("controller tick failed (Redis): %s", error)
            except Exception:  # supervisor: one bad look must not stop the controller
                log.exception("controller tick failed")
            await asyncio.sleep(max(self.tick_s - (time.monotonic() - began), 0.01))

    async def tick(self) -> None:
        sent = time.monotonic()
        token, held = await self.store.hold_lease(self.replica, self.lease_ms)
        if not held:
            if self.leader:
                log.warning("controller %s lost the lease to token %d", self.replica, token)
            self.leader = False
            return
        if not self.leader:
            log.info("controller %s leads with fencing token %d", self.replica, token)
        self.leader, self.token = True, token
        self.valid_until = sent + self.lease_ms / 1000
        began = time.perf_counter()
        routes = sorted(text(r) for r in await self.store.redis.smembers(keyspace.ROLLOUTS_ACTIVE))
        groups = sorted(
            text(g) for g in await self.store.redis.smembers(keyspace.GROUP_ROLLOUTS_ACTIVE)
        )
        looks = [(look_at, route) for route in routes] + [
            (group_tick.look_at, group) for group in groups
        ]
        for look, name in looks:
            if time.monotonic() >= self.valid_until:
                self.leader = False  # renewal is overdue: the lease may be someone else's
                return
            tick = Tick(self.store, token, time.time(), self.settle_s)
            try:
                await look(tick, name)
            except (RedisError, OSError):
                raise
            except Exception:  # supervisor: one bad look must not stop the others
                self.failures += 1
                log.exception("controller: the look at rollout %r failed", name)
            if tick.fenced:  # a newer leader wrote to this rollout: this lease is stale
                log.warning("controller %s was fenced off by a newer leader", self.replica)
                self.leader = False
                return
        self.rollouts = len(looks)
        self.ticks += 1
        if looks:
            self.costs_s.append(time.perf_counter() - began)

    async def stop(self) -> None:
        self._stopping = True
        if self.leader and self.token is not None:
            with contextlib.suppress(RedisError, OSError):  # else it expires on its own
                await self.store.release_lease(self.replica, self.token)
        self.leader = False

    def status(self) -> ControllerStatus:
        costs = sorted(self.costs_s)

        def at(q: float) -> float | None:
            if not costs:
                return None
            return round(costs[min(int(q * len(costs)), len(costs) - 1)] * 1000, 3)

        return ControllerStatus(
            replica=self.replica,
            leader=self.leader,
            fencing_token=self.token,
            lease_ms=self.lease_ms,
            tick_s=self.tick_s,
            ticks=self.ticks,
            rollouts=self.rollouts,
            failures=self.failures,
            tick_ms_p50=at(0.5),
            tick_ms_p99=at(0.99),
            tick_ms_max=at(1.0),
        )

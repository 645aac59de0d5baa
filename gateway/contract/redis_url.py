"""How both planes reach the shared Redis from one URL. Builds a client; does no I/O itself.

- `redis://`, `rediss://`, `unix://`: a standalone server, as redis-py reads these URLs.
- `redis+sentinel://[:password@]host:port[,host:port…]/service[/db]`: the master of `service`
  found through Sentinel; clients follow a failover to the new master.
"""

from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


class RedisUrlError(ValueError):
    pass


def _sentinel_hosts(netloc: str) -> list[tuple[str, int]]:
    hosts: list[tuple[str, int]] = []
    for item in netloc.rpartition("@")[2].split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise RedisUrlError(f"sentinel address {item!r} must be host:port")
        hosts.append((host.strip("[]"), int(port)))
    return hosts


class _SentinelMaster(aioredis.Redis):
    """The master's client, which also closes its connections to the sentinels."""

    sentinels: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            for client in self.sentinels.sentinels:
                await client.aclose()


def connect(url: str, **options: Any) -> aioredis.Redis:
    """A client for `url`; `options` (timeouts, health checks) apply to every connection."""
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        return aioredis.Redis.from_url(url, **options)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise RedisUrlError("a sentinel URL ends in /service or /service/db")
    password = unquote(parts.password) if parts.password else None
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        _sentinel_hosts(parts.netloc),
        sentinel_kwargs={k: v for k, v in options.items() if k.startswith("socket_")},
        password=password,
        db=int(path[1]) if len(path) == 2 else 0,
        ssl=parts.scheme == "rediss+sentinel",
        **options,
    )
    master: _SentinelMaster = sentinel.master_for(path[0], redis_class=_SentinelMaster)
    master.sentinels = sentinel
    return master

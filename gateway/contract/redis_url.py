"""How both planes reach the shared Redis from one URL. Builds a client; does no I/O itself.

- `redis://`, `rediss://`, `unix://`: a standalone server, as redis-py reads these URLs.
- `redis+sentinel://[:password@]host:port[,host:port…]/service[/db]`: the master of `service`
  found through Sentinel; clients follow a failover to the new master.
- `redis+cluster://[[user]:password@]host:port[,host:port…][/]`: a Redis Cluster reached through
  any of these nodes (redis-py's cluster client: commands go to the slot's master and follow
  MOVED/ASK and failovers; database 0 only, as Cluster has no other).
"""

import contextlib
import inspect
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, ClusterPubSub, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError, RedisClusterException, RedisError, TimeoutError

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


class RedisUrlError(ValueError):
    pass


def _hosts(netloc: str, kind: str = "sentinel") -> list[tuple[str, int]]:
    hosts: list[tuple[str, int]] = []
    for item in netloc.rpartition("@")[2].split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise RedisUrlError(f"{kind} address {item!r} must be host:port")
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


class _ClusterPubSub(ClusterPubSub):
    """Pub/sub on one cluster node. PUBLISH reaches every node over the cluster bus, so any node
    delivers the change channel; when the chosen node stops answering, the slot map is re-read
    so the caller's next subscription goes to a live node (failover promotes a replica)."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            await self.cluster.initialize()  # a no-op once the slot map is known
            return await super().execute_command(*args, **kwargs)
        except (ConnectionError, TimeoutError, OSError):
            await self._refresh()
            raise

    # redis-py's signature, hence a `timeout` parameter on an async method
    async def parse_response(self, block: bool = True, timeout: float = 0) -> Any:  # noqa: ASYNC109
        try:
            return await super().parse_response(block, timeout)
        except (ConnectionError, TimeoutError, OSError):
            await self._refresh()
            raise

    async def _refresh(self) -> None:
        # When no node answers either, the caller's own error says why, and it retries.
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await self.cluster.nodes_manager.initialize()


class _Cluster(RedisCluster):
    def pubsub(
        self,
        node: ClusterNode | None = None,
        host: str | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> ClusterPubSub:
        return _ClusterPubSub(self, node=node, host=host, port=port, **kwargs)


# Connection options the cluster client takes (it refuses the rest, e.g. retry_on_timeout).
_CLUSTER_OPTIONS = frozenset(inspect.signature(RedisCluster.__init__).parameters)


def _cluster(url: str, options: dict[str, Any]) -> aioredis.Redis:
    parts = urlsplit(url)
    if parts.path.strip("/") not in ("", "0"):
        raise RedisUrlError("a cluster URL has no database (Redis Cluster serves db 0 only)")
    client = _Cluster(
        startup_nodes=[ClusterNode(h, p) for h, p in _hosts(parts.netloc, "cluster node")],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=parts.scheme == "rediss+cluster",
        **{k: v for k, v in options.items() if k in _CLUSTER_OPTIONS},
    )
    # Typed as the standalone client: both planes use only commands, pipelines, scripts and
    # pub/sub that the cluster client implements with the same signatures (tests run both).
    return cast(aioredis.Redis, client)


def connect(url: str, **options: Any) -> aioredis.Redis:
    """A client for `url`; `options` (timeouts, health checks) apply to every connection."""
    parts = urlsplit(url)
    if parts.scheme in CLUSTER_SCHEMES:
        return _cluster(url, options)
    if parts.scheme not in SENTINEL_SCHEMES:
        return aioredis.Redis.from_url(url, **options)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise RedisUrlError("a sentinel URL ends in /service or /service/db")
    password = unquote(parts.password) if parts.password else None
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        _hosts(parts.netloc),
        sentinel_kwargs={k: v for k, v in options.items() if k.startswith("socket_")},
        password=password,
        db=int(path[1]) if len(path) == 2 else 0,
        ssl=parts.scheme == "rediss+sentinel",
        **options,
    )
    master: _SentinelMaster = sentinel.master_for(path[0], redis_class=_SentinelMaster)
    master.sentinels = sentinel
    return master

"""Upstream client facade: one pool per origin, request bytes built from precomputed parts.

Targets are compiled with the routing table (off the request path): their request line, fixed
headers (the provider's key header among them), pool and TLS context are looked up once there,
so a call only joins bytes and writes them.
"""

from collections.abc import Callable

from gateway.upstream.exchange import DEFAULT_BODY_LIMIT_BYTES, Exchange
from gateway.upstream.http1 import Http1Connection
from gateway.upstream.pool import ConnectionPool, Origin
from gateway.upstream.tls import TlsContexts
from gateway.upstream.tunnel import ProxyRoute

CONNECT_TIMEOUT_S = 10.0


class UpstreamTarget:
    """A provider endpoint with its request line and fixed headers rendered once."""

    __slots__ = ("_prefix", "origin", "pool", "timeout_s")

    def __init__(
        self,
        origin: Origin,
        pool: ConnectionPool,
        path: str,
        headers: list[tuple[str, str]],
        timeout_s: float,
    ) -> None:
        """`path` goes after the base URL's path (query included); `headers` are the fixed
        ones of the provider's kind, its key header among them."""
        self.origin = origin
        self.pool = pool
        self.timeout_s = timeout_s
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
        self._prefix = (
            f"POST {origin.path_prefix}{path} HTTP/1.1\r\n"
            f"Host: {origin.host_header}\r\n"
            "Content-Type: application/json\r\n"
            "Accept-Encoding: identity\r\n"
            f"{lines}"
        ).encode("latin-1")

    def __repr__(self) -> str:  # never show the key
        return f"UpstreamTarget({self.origin.scheme}://{self.origin.host_header})"

    def request_bytes(self, body: bytes, extra_headers: bytes = b"") -> bytes:
        return b"".join(
            (self._prefix, extra_headers, b"Content-Length: %d\r\n\r\n" % len(body), body)
        )


class UpstreamClient:
    def __init__(
        self,
        body_limit_bytes: int = DEFAULT_BODY_LIMIT_BYTES,
        *,
        ca_bundle: str | None = None,
        proxies: ProxyRoute | None = None,
    ) -> None:
        self._pools: dict[tuple[object, ...], ConnectionPool] = {}
        self.body_limit_bytes = body_limit_bytes  # cap of one buffered (non-streaming) answer
        self.tls = TlsContexts(ca_bundle)
        self.proxies = proxies or ProxyRoute(None)

    def pool_for(
        self, origin: Origin, max_connections: int, ca_bundle: str | None = None
    ) -> ConnectionPool:
        """The pool of an origin (and TLS context), created on first use; called when routing
        tables are compiled. Raises TlsSetupError naming an unusable CA bundle."""
        tls = self.tls.get(ca_bundle) if origin.scheme == "https" else None
        proxy = self.proxies.for_origin(origin.scheme, origin.host, origin.port)
        key = (*origin.key, tls, proxy)
        pool = self._pools.get(key)
        if pool is None:
            pool = ConnectionPool(origin, max_connections, CONNECT_TIMEOUT_S, tls, proxy)
            self._pools[key] = pool
        else:
            pool.max_connections = max_connections
        return pool

    async def send(
        self,
        target: UpstreamTarget,
        body: bytes,
        streaming: bool,
        extra_headers: bytes = b"",
    ) -> Exchange:
        return await target.pool.send(
            target.request_bytes(body, extra_headers),
            streaming,
            target.timeout_s,
            self.body_limit_bytes,
        )

    def send_idle(
        self,
        target: UpstreamTarget,
        connection: Http1Connection,
        body: bytes,
        extra_headers: bytes,
        ended: Callable[[Exchange], None],
        streaming: bool = False,
    ) -> Exchange:
        """A request on an idle connection of the target's pool (`take_idle`), no
        coroutine: `ended` is called when the exchange ends (see `ConnectionPool.send_idle`)."""
        return target.pool.send_idle(
            connection,
            target.request_bytes(body, extra_headers),
            target.timeout_s,
            self.body_limit_bytes,
            ended,
            streaming,
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

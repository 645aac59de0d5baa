"""Upstream client facade: one pool per origin, request bytes built from precomputed parts."""

from gateway.upstream.exchange import DEFAULT_BODY_LIMIT_BYTES, Exchange
from gateway.upstream.pool import ConnectionPool, Origin

CONNECT_TIMEOUT_S = 10.0


class UpstreamTarget:
    """A provider endpoint with its request-line and fixed headers rendered once."""

    __slots__ = ("_prefix", "origin", "timeout_s")

    def __init__(
        self,
        base_url: str,
        path: str,
        api_key: str | None,
        timeout_s: float,
    ) -> None:
        self.origin = Origin(base_url)
        self.timeout_s = timeout_s
        auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
        self._prefix = (
            f"POST {self.origin.path_prefix}{path} HTTP/1.1\r\n"
            f"Host: {self.origin.host_header}\r\n"
            "Content-Type: application/json\r\n"
            "Accept-Encoding: identity\r\n"
            f"{auth}"
        ).encode("latin-1")

    def __repr__(self) -> str:  # never show the key
        return f"UpstreamTarget({self.origin.scheme}://{self.origin.host_header})"

    def request_bytes(self, body: bytes, extra_headers: bytes = b"") -> bytes:
        return b"".join(
            (self._prefix, extra_headers, b"Content-Length: %d\r\n\r\n" % len(body), body)
        )


class UpstreamClient:
    def __init__(self, body_limit_bytes: int = DEFAULT_BODY_LIMIT_BYTES) -> None:
        self._pools: dict[tuple[str, str, int], ConnectionPool] = {}
        self.body_limit_bytes = body_limit_bytes  # cap of one buffered (non-streaming) answer

    def pool_for(self, target: UpstreamTarget, max_connections: int) -> ConnectionPool:
        key = target.origin.key
        pool = self._pools.get(key)
        if pool is None:
            pool = ConnectionPool(target.origin, max_connections, CONNECT_TIMEOUT_S)
            self._pools[key] = pool
        else:
            pool.max_connections = max_connections
        return pool

    async def send(
        self,
        target: UpstreamTarget,
        pool: ConnectionPool,
        body: bytes,
        streaming: bool,
        extra_headers: bytes = b"",
    ) -> Exchange:
        return await pool.send(
            target.request_bytes(body, extra_headers),
            streaming,
            target.timeout_s,
            self.body_limit_bytes,
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

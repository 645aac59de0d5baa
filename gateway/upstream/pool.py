"""Keep-alive connection pools, one per upstream origin, bounded by `max_connections`.

A request sent on a reused idle connection that the upstream had already closed (no byte of
answer received) is retried once on a fresh connection; nothing else is ever retried. The lean
path's `take_idle`/`send_idle` do the common case without a coroutine: the exchange's end is
reported by a callback from the upstream protocol's data callback, and the retry on a fresh
connection is then the caller's to make (through `send`).
"""

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

from gateway.upstream.exchange import ConnectFailed, Exchange, UpstreamClosed
from gateway.upstream.http1 import Http1Connection
from gateway.upstream.tunnel import Proxy, open_tunnel

IDLE_KEEPALIVE_S = 15.0


class Origin:
    __slots__ = ("host", "host_header", "path_prefix", "port", "scheme")

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("base_url may not carry credentials")
        self.scheme = parts.scheme
        self.host = parts.hostname
        default_port = 443 if parts.scheme == "https" else 80
        self.port = parts.port or default_port
        self.host_header = parts.netloc.rpartition("@")[2]
        self.path_prefix = parts.path.rstrip("/")

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


class ConnectionPool:
    """Connections to one origin, over TLS with a context built beforehand (never per call),
    directly or through a CONNECT proxy. `opened` counts the connections (TLS handshakes)."""

    def __init__(
        self,
        origin: Origin,
        max_connections: int,
        connect_timeout_s: float,
        tls: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        self.origin = origin
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self._idle: deque[tuple[Http1Connection, float]] = deque()
        self._connections: set[object] = set()  # open connections and in-flight connects
        self._waiters: deque[asyncio.Future[None]] = deque()
        if origin.scheme == "https" and tls is None:
            raise ValueError("an https origin needs a TLS context")
        self._ssl = tls if origin.scheme == "https" else None
        self.proxy = proxy
        self.opened = 0  # connections opened (TLS handshakes, for an https origin)

    async def send(
        self, request: bytes, streaming: bool, timeout_s: float, body_limit: int
    ) -> Exchange:
        """Send `request`; return the exchange once written. Raises OSError/TimeoutError."""
        for attempt in range(2):
            fresh = attempt == 1  # the retry goes on a new connection, never another idle one
            idle = None if fresh else self._take_idle()  # the common case, without a coroutine
            connection, reused = (idle, True) if idle else await self._acquire(timeout_s, fresh)
            exchange = Exchange(connection.loop, streaming, connection, body_limit)
            connection.send(request, exchange, timeout_s)
            if not reused or attempt == 1:
                return self._track(connection, exchange)
            try:
                await exchange.head()
            except UpstreamClosed as error:
                if error.before_any_byte:
                    self._discard(connection)
                    self._drop_idle()  # idle since as long: likely closed by the upstream too
                    continue
                raise
            except BaseException:
                self._discard(connection)
                raise
            return self._track(connection, exchange)
        raise AssertionError("unreachable")

    def _track(self, connection: Http1Connection, exchange: Exchange) -> Exchange:
        if exchange.finished:  # answered already (e.g. while a reused connection was checked)
            self._release(connection)
        else:
            exchange.on_done = lambda: self._release(connection)
        return exchange

    def take_idle(self) -> Http1Connection | None:
        """An idle connection, taken out of the pool; None when there is none."""
        return self._take_idle()

    def give_back(self, connection: Http1Connection) -> None:
        """A connection from `take_idle` that was not used after all."""
        self._release(connection)

    def send_idle(
        self,
        connection: Http1Connection,
        request: bytes,
        timeout_s: float,
        body_limit: int,
        ended: Callable[[Exchange], None],
        streaming: bool = False,
    ) -> Exchange:
        """Send a request on a connection from `take_idle`. `ended` is called once
        the exchange ends either way, from the upstream protocol's callbacks, after the
        connection went back to the pool; an `UpstreamClosed` before any byte there means the
        idle connection had been closed by the upstream: nothing was answered, and the idle
        connections of as long ago are dropped, so a `send` goes on a fresh one."""
        exchange = Exchange(connection.loop, streaming, connection, body_limit)

        def done() -> None:
            error = exchange.error
            if isinstance(error, UpstreamClosed) and error.before_any_byte:
                self._discard(connection)
                self._drop_idle()
            else:
                self._release(connection)
            ended(exchange)

        exchange.on_done = done
        connection.send(request, exchange, timeout_s)
        return exchange

    def _take_idle(self) -> Http1Connection | None:
        now = time.monotonic()
        while self._idle:
            connection, since = self._idle.pop()
            if not connection.closed and now - since < IDLE_KEEPALIVE_S:
                return connection
            self._drop(connection)
        return None

    def _drop_idle(self) -> None:
        while self._idle:
            connection, _ = self._idle.pop()
            self._drop(connection)

    async def _acquire(self, timeout_s: float, fresh: bool) -> tuple[Http1Connection, bool]:
        idle = None if fresh else self._take_idle()
        if idle is not None:
            return idle, True
        while len(self._connections) >= self.max_connections:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(timeout_s):
                    await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if fresh:
                self._drop_idle()  # make room for the new connection
            else:
                idle = self._take_idle()
                if idle is not None:
                    return idle, True
        placeholder = _Reservation()
        self._connections.add(placeholder)
        try:
            connection = await self._connect(min(self.connect_timeout_s, timeout_s))
        except BaseException:
            self._connections.discard(placeholder)
            self._wake_one()  # the slot is free again for a waiting call
            raise
        self._connections.discard(placeholder)
        self._connections.add(connection)
        return connection, False

    async def _connect(self, timeout_s: float) -> Http1Connection:
        """A new connection; ConnectFailed naming the cause when there is none."""
        loop = asyncio.get_running_loop()
        origin = self.origin
        try:
            async with asyncio.timeout(timeout_s):
                if self.proxy is not None and self._ssl is not None:
                    protocol = await open_tunnel(self.proxy, origin.host, origin.port, self._ssl)
                else:
                    _, protocol = await loop.create_connection(
                        lambda: Http1Connection(loop),
                        origin.host,
                        origin.port,
                        ssl=self._ssl,
                        server_hostname=origin.host if self._ssl else None,
                    )
        except ssl.SSLCertVerificationError as error:
            raise ConnectFailed(
                f"the TLS certificate of {origin.host_header} did not verify: "
                f"{error.verify_message or error.reason}",
                retryable=False,
            ) from None
        except ssl.SSLError as error:
            raise ConnectFailed(
                f"TLS handshake with {origin.host_header} failed: {error.reason or error}"
            ) from None
        except TimeoutError:
            raise ConnectFailed(
                f"no connection to {origin.host_header} within {timeout_s:g} s"
            ) from None
        except ConnectFailed:
            raise
        except OSError as error:
            raise ConnectFailed(
                f"could not connect to {origin.host_header}: {error.strerror or error}"
            ) from None
        self.opened += 1
        return protocol

    def _release(self, connection: Http1Connection) -> None:
        if connection.reusable():
            self._idle.append((connection, time.monotonic()))
            self._wake_one()
        else:
            self._discard(connection)

    def _discard(self, connection: Http1Connection) -> None:
        connection.abort()
        self._drop(connection)

    def _drop(self, connection: Http1Connection) -> None:
        if not connection.closed:
            connection.abort()
        if connection in self._connections:
            self._connections.remove(connection)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        while self._idle:
            connection, _ = self._idle.pop()
            connection.abort()
        for open_connection in list(self._connections):
            if isinstance(open_connection, Http1Connection):
                open_connection.abort()
        self._connections.clear()


class _Reservation:
    """Holds a connection slot while a connect is in flight."""

    __slots__ = ()

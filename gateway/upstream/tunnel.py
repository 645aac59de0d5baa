"""HTTPS through a forward proxy: `HTTPS_PROXY` (an http:// proxy) and `NO_PROXY`, via CONNECT.

The proxy setting is parsed once at start-up; which origins bypass it is decided when a pool is
created, not per call. `open_tunnel` asks the proxy for a CONNECT tunnel and starts TLS to the
provider inside it, so the proxy sees only the host and port, never the request or the key.
"""

import asyncio
import base64
import ipaddress
import ssl
from urllib.parse import unquote, urlsplit

from gateway.upstream.exchange import ConnectFailed
from gateway.upstream.http1 import Http1Connection

MAX_REPLY_BYTES = 8192  # the proxy's answer to CONNECT (status line and headers)


class ProxySettingError(ValueError):
    """HTTPS_PROXY or NO_PROXY does not parse: reported at start-up, one line."""


class Proxy:
    __slots__ = ("authorization", "host", "port")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ProxySettingError(
                "HTTPS_PROXY must be an http:// proxy URL like http://proxy.internal:3128"
            )
        try:
            port = parts.port or 80
        except ValueError:
            raise ProxySettingError("HTTPS_PROXY has an invalid port") from None
        self.host = parts.hostname
        self.port = port
        self.authorization = b""
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self.authorization = b"Proxy-Authorization: Basic %s\r\n" % base64.b64encode(pair)

    def __repr__(self) -> str:  # never show the proxy's credentials
        return f"Proxy({self.host}:{self.port})"


class Bypass:
    """NO_PROXY: comma-separated host names (a name covers its subdomains; a leading dot or
    `*.` is accepted), IP addresses, CIDR blocks, each optionally with `:port`; `*` means all."""

    def __init__(self, text: str) -> None:
        self.everything = False
        self.names: list[tuple[str, int | None]] = []
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None]] = []
        for raw in filter(None, (e.strip().lower() for e in text.split(","))):
            if raw == "*":
                self.everything = True
                continue
            host, port = _split_port(raw)
            try:
                self.networks.append((ipaddress.ip_network(host, strict=False), port))
            except ValueError:
                self.names.append((host.removeprefix("*").lstrip("."), port))

    def covers(self, host: str, port: int) -> bool:
        if self.everything:
            return True
        host = host.lower().strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None:
            return any(address in network and p in (None, port) for network, p in self.networks)
        return any(
            (host == name or host.endswith(f".{name}")) and p in (None, port)
            for name, p in self.names
        )


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [v6]:port
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


class ProxyRoute:
    """The start-up proxy setting: which proxy, if any, an https origin is reached through."""

    def __init__(self, https_proxy: str | None, no_proxy: str = "") -> None:
        self.proxy = Proxy(https_proxy) if https_proxy else None
        self.bypass = Bypass(no_proxy)

    def for_origin(self, scheme: str, host: str, port: int) -> Proxy | None:
        if self.proxy is None or scheme != "https" or self.bypass.covers(host, port):
            return None
        return self.proxy


class _ConnectReply(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT; `extra` tells whether bytes came after it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.head: asyncio.Future[bytes] = loop.create_future()
        self.extra = False
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        if self.head.done():
            self.extra = True
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end >= 0:
            self.extra = end + 4 != len(self._buffer)
            self.head.set_result(bytes(self._buffer[:end]))
        elif len(self._buffer) > MAX_REPLY_BYTES:
            self.head.set_exception(ConnectFailed("proxy answer to CONNECT is too large"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(ConnectFailed("proxy closed the connection during CONNECT"))


async def open_tunnel(
    proxy: Proxy, host: str, port: int, ssl_context: ssl.SSLContext
) -> Http1Connection:
    """A TLS connection to host:port through `proxy`; raises ConnectFailed naming the cause."""
    loop = asyncio.get_running_loop()
    try:
        transport, reply = await loop.create_connection(
            lambda: _ConnectReply(loop), proxy.host, proxy.port
        )
    except OSError as error:
        raise ConnectFailed(
            f"proxy {proxy.host}:{proxy.port} unreachable: {error.strerror or error}"
        ) from None
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        target = authority.encode("idna")
        transport.write(
            b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (target, target, proxy.authorization)
        )
        head = await reply.head
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        if status_line.split(" ", 2)[1:2] != ["200"]:
            raise ConnectFailed(
                f"proxy {proxy.host}:{proxy.port} refused CONNECT to {authority}: "
                f"{status_line[:80]!r}"
            )
        if reply.extra:  # bytes before our TLS hello: not a clean tunnel
            raise ConnectFailed(f"proxy {proxy.host}:{proxy.port} sent data after its answer")
        connection = Http1Connection(loop)
        secured = await loop.start_tls(transport, connection, ssl_context, server_hostname=host)
    except BaseException:
        transport.abort()
        raise
    if secured is None:  # the proxy closed the tunnel during the handshake
        raise ConnectFailed(f"proxy {proxy.host}:{proxy.port} closed the tunnel to {authority}")
    connection.connection_made(secured)  # start_tls does not call it on the new protocol
    return connection

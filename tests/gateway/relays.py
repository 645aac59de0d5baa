"""Network parts for the TLS and proxy tests: a TLS front for the simulator (a test CA's
certificate, counting handshakes) and a tiny CONNECT proxy (counting tunnels)."""

import asyncio
import ssl
from pathlib import Path

import trustme


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class _Listener:
    """A loopback server whose open connections are ended when it closes."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def _listen(self, context: ssl.SSLContext | None = None) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)  # type: ignore[arg-type]
            try:
                await self._handle(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                writer.close()
            finally:
                self._tasks.discard(task)  # type: ignore[arg-type]

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def _splice(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
) -> None:
    upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
    await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


class LocalCA:
    """A certificate authority of the test's own, with a certificate for 127.0.0.1."""

    def __init__(self, directory: Path, name: str) -> None:
        self.ca = trustme.CA()
        self.path = directory / f"{name}.pem"
        self.ca.cert_pem.write_to_path(str(self.path))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context


class TlsFront(_Listener):
    """Terminates TLS on a loopback port and relays to the simulator, as a provider's TLS
    endpoint would; `handshakes` counts the TLS connections it completed."""

    def __init__(self, target_port: int, context: ssl.SSLContext) -> None:
        super().__init__()
        self.target_port = target_port
        self.context = context
        self.handshakes = 0

    async def start(self) -> None:
        await self._listen(self.context)

    def url(self, path: str = "/v1") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1  # called once the handshake completed
        await _splice(reader, writer, "127.0.0.1", self.target_port)


class ConnectProxy(_Listener):
    """A forward proxy that only tunnels (CONNECT), recording each tunnel's target and
    Proxy-Authorization; `refuse` makes it answer 403."""

    def __init__(self) -> None:
        super().__init__()
        self.tunnels: list[str] = []
        self.authorizations: list[str | None] = []
        self.refuse = False

    async def start(self) -> None:
        await self._listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request, *lines = head.split("\r\n")
        method, authority, _ = request.split(" ")
        headers = dict(line.split(": ", 1) for line in lines if line)
        assert method == "CONNECT" and headers["Host"] == authority
        self.tunnels.append(authority)
        self.authorizations.append(headers.get("Proxy-Authorization"))
        if self.refuse:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        host, _, port = authority.rpartition(":")
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await _splice(reader, writer, host, int(port))

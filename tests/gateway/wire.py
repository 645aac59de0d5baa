"""Raw HTTP/1.1 on a socket, for tests of the gateway's caller side: requests written byte for
byte as a test wants them (including malformed and smuggling ones), answers read by a small
strict reader that shares no code with the gateway."""

import asyncio
from typing import NamedTuple

import orjson


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-case names; the last of a repeated name
    body: bytes

    def json(self) -> object:
        return orjson.loads(self.body)


def chat(content: str, route: str = "wire", **extra: object) -> bytes:
    return orjson.dumps(
        {"model": route, "messages": [{"role": "user", "content": content}], **extra}
    )


def request(
    path: str = "/v1/chat/completions",
    body: bytes | None = None,
    *,
    method: str = "POST",
    headers: tuple[tuple[str, str], ...] = (),
    chunks: list[bytes] | None = None,
    version: str = "1.1",
) -> bytes:
    """One request: a body with Content-Length, or `chunks` as a chunked body (Expect and other
    headers as given)."""
    lines = [f"{method} {path} HTTP/{version}", "Host: gateway.test"]
    lines += [f"{name}: {value}" for name, value in headers]
    if chunks is not None:
        lines.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\n\r\n"
    elif body is not None:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    else:
        payload = b""
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_answer(
    reader: asyncio.StreamReader, timeout_s: float = 5.0, *, to_head: bool = False
) -> Answer:
    """The next answer; `to_head`: it answers a HEAD request (a length, but no body)."""
    return await asyncio.wait_for(_read_answer(reader, to_head), timeout_s)


async def _read_answer(reader: asyncio.StreamReader, to_head: bool) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, status, _ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        assert sep and name == name.strip(), line
        headers[name.lower()] = value.strip()
    code = int(status)
    if code == 100 or to_head:
        return Answer(code, headers, b"")
    if "content-length" in headers:
        assert "transfer-encoding" not in headers
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                assert await reader.readuntil(b"\r\n") == b"\r\n"  # no trailers are sent
                break
            parts.append(await reader.readexactly(size))
            assert await reader.readexactly(2) == b"\r\n"
        body = b"".join(parts)
    else:
        assert headers.get("connection") == "close", headers
        body = await reader.read()
    return Answer(code, headers, body)


async def closed(reader: asyncio.StreamReader, timeout_s: float = 5.0) -> bool:
    """True when the server closes with nothing more to say (no further answer)."""
    rest = await asyncio.wait_for(reader.read(), timeout_s)
    assert rest == b"", rest[:200]
    return True


async def send_in_pieces(writer: asyncio.StreamWriter, raw: bytes, cuts: list[int]) -> None:
    """`raw` in several writes, cut at `cuts`, with a pause so each arrives as its own read."""
    start = 0
    for cut in [*cuts, len(raw)]:
        if cut <= start:
            continue
        writer.write(raw[start:cut])
        await writer.drain()
        await asyncio.sleep(0.0005)
        start = cut

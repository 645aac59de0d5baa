"""The hand-off of other endpoints to the aiohttp application: its channels (socketpairs) are
reused, and one that aiohttp closed after its keep-alive time-out is never used again."""

import asyncio

import msgspec

from gateway.app import build_app
from gateway.listener import GatewayListener
from gateway.settings import GatewaySettings
from tests.conftest import free_port
from tests.gateway.wire import read_answer, request

KEEPALIVE_S = 0.2  # aiohttp's keep-alive on the hand-off channels, short for the test


async def test_a_channel_aiohttp_closed_when_idle_is_not_reused(redis_server, dial, tmp_path):
    settings = msgspec.convert(
        {"port": free_port(), "redis_url": redis_server.url, "data_dir": str(tmp_path)},
        GatewaySettings,
    )
    listener = GatewayListener(build_app(settings), handoff_keepalive_s=KEEPALIVE_S)
    await listener.start("127.0.0.1", settings.port)
    try:
        handoff = listener.handoff
        assert handoff is not None
        reader, writer = await dial(listener.port)
        for _ in range(2):  # the second reuses the first one's channel
            writer.write(request("/healthz", method="GET"))
            answer = await read_answer(reader)
            assert answer.status == 200 and answer.json() == {"status": "ok"}
        assert len(handoff._idle) == 1
        await asyncio.sleep(KEEPALIVE_S * 5)  # aiohttp closes the idle channel meanwhile
        for _ in range(2):
            writer.write(request("/healthz", method="GET"))
            answer = await read_answer(reader)
            assert answer.status == 200 and answer.json() == {"status": "ok"}
        assert len(handoff._idle) == 1  # the new channel, kept for the next hand-off
    finally:
        await listener.stop(timeout_s=2.0)

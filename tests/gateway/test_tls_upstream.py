"""Providers over TLS: certificates verified against the system store or a configured CA
bundle, contexts built off the event loop and never during calls, connections (and so TLS
handshakes) reused, and HTTPS through a CONNECT proxy named by HTTPS_PROXY."""

import asyncio
import base64
from pathlib import Path

import pytest

from gateway.app import build_app
from gateway.settings import SettingsError, load_settings
from gateway.upstream import tls
from gateway.upstream.tunnel import Bypass
from tests import builders
from tests.conftest import Gateway, free_port, wait_for
from tests.gateway.relays import ConnectProxy, LocalCA, TlsFront
from tests.seeding import seed_provider, seed_route

BODY = {"model": "secure", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA(tmp_path, "provider-ca")


@pytest.fixture
def other_ca(tmp_path: Path) -> LocalCA:
    return LocalCA(tmp_path, "other-ca")


@pytest.fixture
async def front(simulator, ca):
    server = TlsFront(simulator.port, ca.server_context())
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def proxy():
    server = ConnectProxy()
    await server.start()
    yield server
    await server.close()


async def publish(redis, base_url: str, route: str = "secure", **provider_fields) -> None:
    name = f"p-{route}"
    await seed_provider(redis, builders.provider(base_url, name=name, **provider_fields))
    release = builders.ReleaseSpec(id="r1", model=builders.model("sim-chat", provider_name=name))
    await seed_route(redis, builders.state(route, {"r1": 100}), [release])


async def call(http, gateway, route: str = "secure"):
    async with http.post(
        f"{gateway.url}/v1/chat/completions", json={**BODY, "model": route}
    ) as response:
        return response.status, await response.json()


def pool_of(gateway, route: str = "secure"):
    return gateway.context.holder.table.routes[route].releases["r1"].chat_target.pool


async def test_verified_against_the_ca_bundle_and_connections_reused(
    redis, redis_server, gateway_factory, front, ca, http
):
    await publish(redis, front.url())
    gateway = await gateway_factory(redis_server.url, ca_bundle=str(ca.path))
    for _ in range(20):
        status, answer = await call(http, gateway)
        assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "echo: hi"
    assert front.handshakes == 1  # one TLS connection for 20 sequential calls

    for _ in range(3):
        results = await asyncio.gather(*(call(http, gateway) for _ in range(8)))
        assert [status for status, _ in results] == [200] * 8
    assert front.handshakes <= 8  # never more connections than calls in flight at once
    assert pool_of(gateway).opened == front.handshakes


async def test_a_provider_bundle_wins_over_the_gateway_setting(
    redis, redis_server, gateway_factory, front, ca, other_ca, http
):
    await publish(redis, front.url(), ca_bundle=str(ca.path))
    gateway = await gateway_factory(redis_server.url, ca_bundle=str(other_ca.path))
    assert (await call(http, gateway))[0] == 200


@pytest.mark.parametrize("bundle", ["other", "system"])
async def test_a_certificate_that_does_not_verify_is_a_502_naming_the_cause(
    redis, redis_server, gateway_factory, front, other_ca, http, bundle
):
    await publish(redis, front.url())
    ca_bundle = str(other_ca.path) if bundle == "other" else None
    gateway = await gateway_factory(redis_server.url, ca_bundle=ca_bundle)
    status, answer = await call(http, gateway)
    assert status == 502
    error = answer["error"]
    assert error["code"] == "upstream_connect_failed"
    assert f"TLS certificate of 127.0.0.1:{front.port} did not verify" in error["message"]
    assert "certificate" in error["message"].rsplit(":", 1)[1]  # OpenSSL's reason
    assert front.handshakes == 0
    stats = gateway.context.recorder.stats_for("secure", "r1")
    assert stats.outcomes["connect"] == 1


async def test_an_unusable_bundle_is_a_502_naming_the_file(
    redis, redis_server, gateway_factory, front, tmp_path, http
):
    missing = tmp_path / "nowhere" / "ca.pem"
    await publish(redis, front.url(), ca_bundle=str(missing))
    gateway = await gateway_factory(redis_server.url)
    status, answer = await call(http, gateway)
    assert status == 502 and answer["error"]["code"] == "provider_not_configured"
    assert str(missing) in answer["error"]["message"]
    assert "No such file" in answer["error"]["message"]


async def test_contexts_are_built_off_the_event_loop_never_during_calls(
    redis, redis_server, gateway_factory, front, ca, other_ca, http, monkeypatch
):
    builds: list[tuple[str | None, bool]] = []
    real = tls.build_context

    def recording(bundle):
        on_loop = asyncio._get_running_loop() is not None
        builds.append((bundle, on_loop))
        return real(bundle)

    monkeypatch.setattr(tls, "build_context", recording)
    await publish(redis, front.url(), ca_bundle=str(other_ca.path))
    gateway = await gateway_factory(redis_server.url, ca_bundle=str(ca.path))
    assert builds == [(str(other_ca.path), False)]  # at start-up, in a worker thread

    # the provider now names another bundle: built when the change arrives, off the loop
    await publish(redis, front.url(), ca_bundle=str(ca.path))
    await wait_for(lambda: len(builds) == 2)
    assert builds[1] == (str(ca.path), False)
    await wait_for(lambda: pool_of(gateway)._ssl is not None and len(builds) == 2)

    async def serving() -> bool:
        return (await call(http, gateway))[0] == 200

    await wait_for(serving)
    for _ in range(10):
        assert (await call(http, gateway))[0] == 200
    assert len(builds) == 2  # calls only look contexts up


async def test_https_proxy_tunnels_and_no_proxy_bypasses(
    redis, redis_server, simulator, front, ca, proxy, http, tmp_path, monkeypatch
):
    await publish(redis, front.url())
    await publish(redis, simulator.url, route="plain")  # http://: never through the proxy
    monkeypatch.setenv("HTTPS_PROXY", f"http://gw:s%40cret@127.0.0.1:{proxy.port}")
    monkeypatch.setenv("TURNOUT_CA_BUNDLE", str(ca.path))
    monkeypatch.setenv("NO_PROXY", "localhost,.internal.example")
    settings = load_settings(
        {"port": free_port(), "redis_url": redis_server.url, "data_dir": str(tmp_path / "a")}
    )
    gateway = await Gateway.serve(build_app(settings), settings.port)
    try:
        for _ in range(5):
            assert (await call(http, gateway))[0] == 200
        assert (await call(http, gateway, "plain"))[0] == 200
    finally:
        await gateway.stop()
    assert proxy.tunnels == [f"127.0.0.1:{front.port}"]  # one tunnel, reused by every call
    assert proxy.authorizations == ["Basic " + base64.b64encode(b"gw:s@cret").decode()]
    assert front.handshakes == 1  # TLS ran end to end, inside the tunnel

    monkeypatch.setenv("NO_PROXY", "example.com, 127.0.0.0/8")
    settings = load_settings(
        {"port": free_port(), "redis_url": redis_server.url, "data_dir": str(tmp_path / "b")}
    )
    gateway = await Gateway.serve(build_app(settings), settings.port)
    try:
        assert (await call(http, gateway))[0] == 200
    finally:
        await gateway.stop()
    assert len(proxy.tunnels) == 1  # bypassed
    assert front.handshakes == 2


async def test_a_proxy_that_refuses_the_tunnel_is_a_502_naming_it(
    redis, redis_server, gateway_factory, front, ca, proxy, http
):
    proxy.refuse = True
    await publish(redis, front.url())
    gateway = await gateway_factory(redis_server.url, ca_bundle=str(ca.path), https_proxy=proxy.url)
    status, answer = await call(http, gateway)
    assert status == 502 and answer["error"]["code"] == "upstream_connect_failed"
    assert (
        f"proxy 127.0.0.1:{proxy.port} refused CONNECT to 127.0.0.1:{front.port}"
        in (answer["error"]["message"])
    )
    assert "403" in answer["error"]["message"]


def test_proxy_settings_fail_fast(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(SettingsError, match="HTTPS_PROXY must be an http:// proxy URL"):
        load_settings({})
    monkeypatch.setenv("TURNOUT_HTTPS_PROXY", "http://proxy.internal:3128")
    assert load_settings({}).https_proxy == "http://proxy.internal:3128"  # TURNOUT_ wins


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("example.com", "api.example.com", 443, True),
        ("example.com", "example.com", 443, True),
        (".example.com", "api.example.com", 443, True),
        ("*.example.com", "api.example.com", 443, True),
        ("example.com", "badexample.com", 443, False),
        ("example.com:8443", "example.com", 443, False),
        ("example.com:443", "example.com", 443, True),
        ("10.0.0.0/8", "10.1.2.3", 443, True),
        ("10.0.0.0/8", "11.1.2.3", 443, False),
        ("::1", "[::1]", 443, True),
        ("*", "anything", 1, True),
        ("", "anything", 1, False),
    ],
)
def test_no_proxy_rules(no_proxy, host, port, bypassed):
    assert Bypass(no_proxy).covers(host, port) is bypassed

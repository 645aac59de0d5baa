"""Every bad input and upstream failure gets its status and an OpenAI-shaped error body."""

import pytest

from simulator.behaviour import Behaviour
from tests import builders
from tests.conftest import free_port, publish_route
from tests.seeding import seed_provider, seed_route


def assert_openai_error(data, status_code_text=None):
    assert set(data) == {"error"}
    error = data["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    if status_code_text is not None:
        assert error["code"] == status_code_text
    return error


@pytest.fixture
async def gateway(redis, redis_server, simulator, gateway_factory):
    await publish_route(
        redis,
        simulator,
        builders.state("support", {"r1": 100}),
        [builders.release("r1", system="Hi {{name}}", variables=["name"])],
        timeout_s=0.5,
    )
    return await gateway_factory(redis_server.url, body_limit_bytes=4096)


async def post(http, gateway, data=None, json=None, headers=None):
    async with http.post(
        f"{gateway.url}/v1/chat/completions", data=data, json=json, headers=headers
    ) as response:
        return response.status, response.headers, await response.json(content_type=None)


def ok_body(**extra):
    return {
        "model": "support",
        "messages": [{"role": "user", "content": "x"}],
        "prompt_variables": {"name": "n"},
        **extra,
    }


async def test_non_json_body(gateway, http):
    status, headers, data = await post(http, gateway, data=b"{not json")
    assert status == 400
    assert "not valid JSON" in assert_openai_error(data, "invalid_json")["message"]
    assert "X-Turnout-Call-Id" in headers


async def test_json_that_is_not_an_object(gateway, http):
    status, _, data = await post(http, gateway, data=b"[1, 2]")
    assert status == 400
    assert "JSON object" in assert_openai_error(data)["message"]


async def test_missing_model(gateway, http):
    status, _, data = await post(http, gateway, json={"messages": []})
    assert status == 400
    assert assert_openai_error(data)["param"] == "model"


async def test_model_not_a_string(gateway, http):
    status, _, data = await post(http, gateway, json={"model": 42, "messages": []})
    assert status == 400
    error = assert_openai_error(data)
    assert error["param"] == "model" and "string" in error["message"]


async def test_unknown_route(gateway, http):
    status, _, data = await post(http, gateway, json={"model": "nope", "messages": []})
    assert status == 404
    assert "'nope'" in assert_openai_error(data, "model_not_found")["message"]


async def test_body_over_the_limit(gateway, http):
    big = ok_body(padding="x" * 8000)
    status, _, data = await post(http, gateway, json=big)
    assert status == 413
    assert "4096" in assert_openai_error(data, "request_too_large")["message"]


async def test_missing_prompt_variable_names_it(gateway, http):
    body = ok_body(prompt_variables={})
    status, headers, data = await post(http, gateway, json=body)
    assert status == 400
    error = assert_openai_error(data, "missing_prompt_variable")
    assert "'name'" in error["message"]
    assert error["param"] == "prompt_variables.name"
    assert headers["X-Turnout-Release"] == "r1"  # errors after resolution are tagged too


async def test_prompt_variables_must_be_an_object(gateway, http):
    status, _, data = await post(http, gateway, json=ok_body(prompt_variables=["name"]))
    assert status == 400
    assert assert_openai_error(data)["param"] == "prompt_variables"


async def test_pinned_release_not_on_the_route(gateway, http):
    headers = {"X-Turnout-Release": "r9"}
    status, headers, data = await post(http, gateway, json=ok_body(), headers=headers)
    assert status == 400
    error = assert_openai_error(data, "unknown_release")
    assert "'r9'" in error["message"] and "support" in error["message"]
    assert headers["X-Turnout-Route"] == "support"


async def test_upstream_refusing_connections(redis, redis_server, simulator, gateway_factory, http):
    dead = builders.provider(f"http://127.0.0.1:{free_port()}/v1")
    await seed_provider(redis, dead)
    await seed_route(redis, builders.state("dead", {"r1": 100}), [builders.release("r1")])
    gateway = await gateway_factory(redis_server.url)
    status, headers, data = await post(
        http, gateway, json={"model": "dead", "messages": [{"role": "user", "content": "x"}]}
    )
    assert status == 502
    assert_openai_error(data, "upstream_connect_failed")
    assert headers["X-Turnout-Route"] == "dead"
    assert simulator.received() == []


@pytest.mark.parametrize("idle_connection", [False, True], ids=["as a task", "from callbacks"])
async def test_upstream_timeout(gateway, simulator, http, idle_connection):
    """Also on the lean path: with an idle upstream connection at hand the call is answered
    from the upstream connection's callbacks (its time-out included)."""
    if idle_connection:
        assert (await post(http, gateway, json=ok_body()))[0] == 200
    simulator.state.behaviours["*"] = Behaviour(latency_ms=2000)
    status, headers, data = await post(http, gateway, json=ok_body())
    assert status == 504
    assert "0.5 s" in assert_openai_error(data, "upstream_timeout")["message"]
    assert headers["X-Turnout-Release"] == "r1"
    release = gateway.context.holder.table.routes["support"].releases["r1"]
    assert release.stats.outcomes["timeout"] == 1  # recorded once


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("upstream_status", [429, 500])
async def test_upstream_errors_pass_through(gateway, simulator, http, upstream_status, stream):
    simulator.state.behaviours["*"] = Behaviour(status=upstream_status, retry_after_s=3)
    status, headers, data = await post(http, gateway, json=ok_body(stream=stream))
    assert status == upstream_status
    assert data["error"]["message"] == f"simulated failure {upstream_status}"
    assert headers["X-Turnout-Release"] == "r1"
    if upstream_status == 429:
        assert headers["Retry-After"] == "3"
    # the failure is counted against the release
    release = gateway.context.holder.table.routes["support"].releases["r1"]
    key = "upstream_4xx" if upstream_status < 500 else "upstream_5xx"
    assert release.stats.outcomes[key] == 1


async def test_unknown_path_is_openai_shaped(gateway, http):
    async with http.get(f"{gateway.url}/v1/nothing") as response:
        assert response.status == 404
        assert_openai_error(await response.json())


async def test_client_keys_required_when_configured(
    redis, redis_server, simulator, gateway_factory, http
):
    await publish_route(
        redis, simulator, builders.state("open", {"r1": 100}), [builders.release("r1")]
    )
    gateway = await gateway_factory(redis_server.url, api_keys="shop:sk-shop,evals:pin:sk-evals")
    body = {"model": "open", "messages": [{"role": "user", "content": "x"}]}
    status, _, data = await post(http, gateway, json=body)
    assert status == 401
    assert_openai_error(data, "invalid_api_key")
    status, _, _ = await post(http, gateway, json=body, headers={"Authorization": "Bearer sk-shop"})
    assert status == 200
    assert gateway.context.recorder.apps == {("shop", "open"): 1}
    pin = {"X-Turnout-Release": "r1"}
    status, _, data = await post(
        http, gateway, json=body, headers={"Authorization": "Bearer sk-shop", **pin}
    )
    assert status == 403
    assert_openai_error(data, "pin_not_allowed")
    status, _, _ = await post(
        http, gateway, json=body, headers={"Authorization": "Bearer sk-evals", **pin}
    )
    assert status == 200


async def test_not_ready_without_any_snapshot(gateway_factory, http, tmp_path):
    gateway = await gateway_factory(f"redis://127.0.0.1:{free_port()}/0")
    async with http.get(f"{gateway.url}/readyz") as response:
        assert response.status == 503
    status, _, data = await post(http, gateway, json=ok_body())
    assert status == 503
    assert_openai_error(data, "not_ready")


def nested(depth):
    """A chat body whose JSON nests `depth` levels (the top-level object is one)."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return b'{"model": "support", "prompt_variables": {"name": "n"}, "messages": [], "pad": %s}' % (
        inner
    )


async def test_json_nested_up_to_the_limit_is_forwarded(gateway, http, simulator):
    status, _, data = await post(http, gateway, data=nested(254))
    assert status == 200, data


@pytest.mark.parametrize("depth", [255, 300, 1000, 1500])
async def test_json_nested_deeper_than_the_limit_is_a_400_naming_it(gateway, http, depth):
    status, headers, data = await post(http, gateway, data=nested(depth))
    assert status == 400
    error = assert_openai_error(data, "json_too_deep")
    assert "254 levels" in error["message"]
    assert "X-Turnout-Call-Id" in headers
    stats = gateway.context.holder.table.routes["support"].releases["r1"].stats
    if depth <= 1024:  # parsed, so resolved: tagged and counted against the release
        assert headers["X-Turnout-Release"] == "r1"
        assert stats.outcomes["client"] == 1
    else:  # orjson refuses to parse it at all: refused before resolution
        assert gateway.context.recorder.rejected == {"json_too_deep": 1}


@pytest.mark.parametrize("idle_connection", [False, True], ids=["as a task", "lean"])
async def test_an_unexpected_failure_after_resolution_is_a_tagged_counted_500(
    gateway, http, monkeypatch, caplog, idle_connection
):
    """Fault injection: whatever bug escapes the call path is rendered by the error layer,
    keeps the call's tags, is counted once as a gateway failure, and is logged rate-limited.
    On the lean path the idle upstream connection it had taken goes back to its pool."""
    from gateway.endpoints import proxy

    if idle_connection:
        assert (await post(http, gateway, json=ok_body()))[0] == 200

    def broken(release, body):
        raise RuntimeError("a bug")

    monkeypatch.setattr(proxy, "apply_chat", broken)
    for _ in range(3):
        status, headers, data = await post(http, gateway, json=ok_body())
        assert status == 500
        assert_openai_error(data, "internal_error")
        assert headers["X-Turnout-Release"] == "r1" and "X-Turnout-Call-Id" in headers
    release = gateway.context.holder.table.routes["support"].releases["r1"]
    stats = release.stats
    assert stats.outcomes["gateway"] == 3
    assert stats.status_classes == ({"2xx": 1, "5xx": 3} if idle_connection else {"5xx": 3})
    if idle_connection:
        assert release.chat_target is not None
        assert len(release.chat_target.pool._idle) == 1, "the taken connection was not given back"
    logged = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert len(logged) == 1  # rate-limited: one line per interval, not one per call


@pytest.mark.parametrize("value", [True, None, {"first": "Ada"}, ["Ada"]])
async def test_a_prompt_variable_that_is_not_text_is_a_400_naming_it(gateway, http, value):
    status, headers, data = await post(
        http, gateway, json=ok_body(prompt_variables={"name": value})
    )
    assert status == 400
    error = assert_openai_error(data, "invalid_prompt_variable")
    assert "'name'" in error["message"] and "string or a number" in error["message"]
    assert error["param"] == "prompt_variables.name"
    assert headers["X-Turnout-Release"] == "r1"


async def test_an_unexpected_failure_before_resolution_is_a_counted_500(gateway, http, monkeypatch):
    from gateway.endpoints import proxy

    def broken(table, body):
        raise RuntimeError("a bug")

    monkeypatch.setattr(proxy, "find_route", broken)
    status, _, data = await post(http, gateway, json=ok_body())
    assert status == 500
    assert_openai_error(data, "internal_error")
    assert gateway.context.recorder.rejected == {"internal_error": 1}

"""Versioned artefacts: prompt and model versions are immutable and idempotent on content;
providers hold no secrets and their upserts are audited."""

PROMPTS = "/admin/prompts/support"


async def test_prompt_versions_are_immutable_and_idempotent_on_content(api):
    status, first = await api.call(
        "POST", f"{PROMPTS}/versions", {"system": "Help {{team}}.", "note": "v1"}, role="operator"
    )
    assert status == 201
    assert (first["ref"], first["variables"], first["created"]) == ("support@1", ["team"], True)
    assert first["author"] == "olga"

    status, again = await api.call(
        "POST", f"{PROMPTS}/versions", {"system": "Help {{team}}.", "note": "other note"}
    )
    assert status == 200
    assert (again["ref"], again["created"], again["note"]) == ("support@1", False, "v1")

    status, second = await api.call("POST", f"{PROMPTS}/versions", {"system": "Help {{ team }}!"})
    assert status == 201 and second["ref"] == "support@2"

    listed = await api.ok("GET", PROMPTS)
    assert [v["ref"] for v in listed] == ["support@1", "support@2"]
    one = await api.ok("GET", f"{PROMPTS}/versions/1")
    assert one["system"] == "Help {{team}}." and one["content_hash"] == first["content_hash"]
    status, _ = await api.call("GET", f"{PROMPTS}/versions/3")
    assert status == 404


async def test_no_endpoint_can_change_a_version(api):
    await api.ok("POST", f"{PROMPTS}/versions", {"system": "Original."})
    await api.ok("PUT", "/admin/providers/sim", {"base_url": "http://127.0.0.1:9/v1"})
    await api.ok("POST", "/admin/models/m/versions", {"provider": "sim", "upstream_model": "a"})
    for method in ("PUT", "PATCH", "DELETE"):
        for path in (f"{PROMPTS}/versions/1", PROMPTS, "/admin/models/m", "/admin/models/m/1"):
            status, body = await api.call(method, path, {"system": "Changed."})
            assert status in (404, 405), (method, path, status)
            assert set(body["error"]) == {"message", "field", "code"}
    document = await api.ok("GET", "/admin/openapi.json")
    writes = {
        (method, path)
        for path, methods in document["paths"].items()
        for method in methods
        if method != "get" and ("/prompts/" in path or "/models/" in path)
    }
    assert writes == {
        ("post", "/admin/prompts/{name}/versions"),
        ("post", "/admin/models/{name}/versions"),
    }
    assert (await api.ok("GET", f"{PROMPTS}/versions/1"))["system"] == "Original."


async def test_model_versions_are_idempotent_on_content(api):
    await api.ok("PUT", "/admin/providers/sim", {"base_url": "http://127.0.0.1:9/v1"})
    body = {
        "provider": "sim",
        "upstream_model": "gpt-4o",
        "params": {"temperature": 0.2, "max_tokens": 100},
        "input_usd_per_mtok": 2.5,
        "output_usd_per_mtok": 10,
    }
    status, first = await api.call("POST", "/admin/models/gpt/versions", body, role="operator")
    assert status == 201 and first["ref"] == "gpt@1"
    reordered = {**body, "params": {"max_tokens": 100, "temperature": 0.2}}
    status, same = await api.call("POST", "/admin/models/gpt/versions", reordered)
    assert status == 200 and same["ref"] == "gpt@1" and same["created"] is False
    changed = {**body, "params": {"temperature": 0.3, "max_tokens": 100}}
    status, second = await api.call("POST", "/admin/models/gpt/versions", changed)
    assert status == 201 and second["ref"] == "gpt@2"
    listed = await api.ok("GET", "/admin/models/gpt")
    assert [m["params"]["temperature"] for m in listed] == [0.2, 0.3]


async def test_providers_hold_no_secret_and_upserts_are_audited(api, monkeypatch):
    monkeypatch.setenv("SIM_KEY", "sk-very-secret-value")
    body = {"base_url": "https://llm.example.com/v1", "api_key_env": "SIM_KEY", "reason": "new"}
    put = await api.ok("PUT", "/admin/providers/sim", body)
    assert put["changed"] is True and put["created"] is True
    assert put["provider"]["api_key_env"] == "SIM_KEY"
    same = await api.ok("PUT", "/admin/providers/sim", body)
    assert (same["changed"], same["created"]) == (False, False)
    moved = {**body, "base_url": "https://llm2.example.com/v1", "reason": "moved"}
    updated = await api.ok("PUT", "/admin/providers/sim", moved)
    assert (updated["changed"], updated["created"]) == (True, False)

    status, listed = await api.call("GET", "/admin/providers", role="viewer")
    assert status == 200 and listed[0]["base_url"] == "https://llm2.example.com/v1"
    audit = await api.ok("GET", "/admin/audit")
    assert [(e["action"], e["provider"], e["reason"], e["actor"]) for e in audit] == [
        ("provider.put", "sim", "new", "alice"),
        ("provider.put", "sim", "moved", "alice"),
    ]
    assert audit[1]["before"]["base_url"] == "https://llm.example.com/v1"
    for response in (listed, audit, put):
        assert "sk-very-secret-value" not in str(response)

"""The OpenAPI document matches the server: the same operations, and request schemas that refuse
unknown fields exactly as the server does."""

from tests.control.conftest import seed_route


async def test_document_and_router_list_the_same_operations(api, admin):
    document = await api.ok("GET", "/admin/openapi.json")
    documented = {
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    }
    served = {
        (route.method, route.resource.canonical)
        for route in admin.app.router.routes()
        if route.method != "HEAD"
        and route.resource.canonical != "/admin/openapi.json"
        and route.resource.canonical.startswith("/admin/")  # not /metrics nor the probes
    }
    assert documented == served
    assert ("PUT", "/admin/routes/{route}/weights") in documented
    assert ("GET", "/admin/routes/{route}/stats") in documented


def resolve(document, schema):
    """The component a body schema names, directly or as the one `$ref` of an `allOf` (a body
    with a rule beside its type, such as the restore's exactly-one-source)."""
    while "$ref" in schema or "allOf" in schema:
        if "allOf" in schema:
            (schema,) = schema["allOf"]
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


async def test_every_request_body_refuses_unknown_fields_as_documented(api):
    await seed_route(api, "http://127.0.0.1:9/v1")
    document = await api.ok("GET", "/admin/openapi.json")
    checked = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if "requestBody" not in operation:
                continue
            schema = resolve(
                document, operation["requestBody"]["content"]["application/json"]["schema"]
            )
            assert schema["additionalProperties"] is False, path
            concrete = path.replace("{name}", "x").replace("{route}", "support")
            concrete = concrete.replace("{release}", "r2").replace("{review}", "1-0")
            status, body = await api.call(method.upper(), concrete, {"surprise": 1})
            assert status == 400, (method, path)
            # the unknown field, or a documented required field, is named
            assert body["error"]["field"] in {"surprise", *schema.get("required", [])}
            checked += 1
    assert checked == 33  # 19 registry, route, backup, rollout and gate operations; 9 release ops;
    # 5 group rollout operations (start and the four verbs)


async def test_weights_schema_states_the_rules(api):
    document = await api.ok("GET", "/admin/openapi.json")
    weights = document["components"]["schemas"]["WeightsIn"]
    assert weights["required"] == ["weights", "expected_revision", "reason"]
    assert weights["properties"]["weights"]["additionalProperties"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 100,
    }
    audit = document["paths"]["/admin/audit"]["get"]
    assert {p["name"] for p in audit["parameters"]} == {"route", "since", "limit"}
    resolve_op = document["paths"]["/admin/resolve"]["get"]
    assert {p["name"]: p["required"] for p in resolve_op["parameters"]} == {
        "route": True,
        "key": True,
    }

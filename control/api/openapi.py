"""The OpenAPI 3.1 document of the admin API, generated from the endpoint declarations.

Request, query and response schemas come from the same msgspec types the handlers decode with,
so the document cannot drift from what the server accepts. Pure; no I/O.
"""

from collections.abc import Sequence
from typing import Any

import msgspec

from control.api.endpoint import Endpoint
from control.errors import ErrorBody
from control.registry.rules import NAME_PATTERN, VERSION_PATTERN, anchored

_REF = "#/components/schemas/{name}"
# Path parameters by name, as strict as the server: a name of a route, prompt, model or
# provider, and a version number.
_NAME_SCHEMA = {"type": "string", "pattern": anchored(NAME_PATTERN)}
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "name": _NAME_SCHEMA,
    "route": _NAME_SCHEMA,
    "release": _NAME_SCHEMA,  # a release id (r1, r2, …): an unknown one is a 404
    "n": {"type": "string", "pattern": anchored(VERSION_PATTERN)},
    # a needs-review item's id: the audit entry id of its emergency change ("1718000000000-0")
    "review": {"type": "string", "pattern": "^[0-9]{1,20}-[0-9]{1,20}$"},
    # a webhook delivery's id: "<webhook>:<event id>", names, stream ids and event types
    "delivery": {"type": "string", "pattern": "^[A-Za-z0-9._:*-]{1,512}$"},
}
_ERRORS = {
    400: "bad input: the message names the field and the rule; nothing was written. `code` is "
    "`invalid_input` for a rule this schema states, `unknown_reference` for a name of a "
    "provider, version or release that does not exist, `broken_rule` for a rule across fields "
    "or values that the descriptions state (weights sum to exactly 100 with at most two "
    "decimals; a prompt has a system text or messages, a template that parses and declared "
    "variables that match it; a stats window from 1m to 7d; a time in the calendar; rollout "
    "steps above 0, at most 100 and two decimals, increasing, the first below 100; rollout "
    "guards distinct, a hard ceiling only on a rate guard; a rollout of a release that is not "
    "the stable one)",
    401: "missing or invalid bearer token",
    403: "the token's role is too low",
    404: "no such route, prompt, model or version",
    409: "conflict: a stale expected_revision, or the name exists; a freeze window (`frozen`, "
    "naming the window: pass `emergency: true`), an engaged kill switch (`killed`), a rollout "
    "in the way (`rollout_exists`, `group_rollout_exists`, `rollout_active`, "
    "`group_rollout_active`)",
}


def _beside_ref(schema: Any) -> Any:
    """`{"$ref": …, "oneOf": …}` (a Meta on a Struct) as `allOf`: tools that read OpenAPI the
    3.0 way drop whatever stands beside a `$ref`, and the rule with it."""
    if isinstance(schema, dict) and "$ref" in schema and len(schema) > 1:
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return {"allOf": [{"$ref": schema["$ref"]}], **rest}
    return schema


def _json(schema: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query_parameters(query_type: Any, components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = components[query_type.__name__]
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": field_schema}
        for name, field_schema in schema["properties"].items()
    ]


def _operation(endpoint: Endpoint, schemas: dict[Any, Any], components: dict[str, Any]) -> Any:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS[name]}
        for name in endpoint.path_params
    ]
    if endpoint.query is not None:
        parameters += _query_parameters(endpoint.query, components)
    responses: dict[str, Any] = {str(endpoint.status): _json(schemas[endpoint.reply], "success")}
    if endpoint.status == 201:
        responses["200"] = _json(schemas[endpoint.reply], "it existed already (`created: false`)")
    for status, description in _ERRORS.items():
        if endpoint.role is None and status in (401, 403):
            continue
        responses[str(status)] = _json(schemas[ErrorBody], description)
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "parameters": parameters,
        "responses": responses,
        "security": [] if endpoint.role is None else [{"bearer": []}],
    }
    if endpoint.role is not None:
        operation["x-turnout-role"] = endpoint.role
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas[endpoint.body]}},
        }
    return operation


def document(endpoints: Sequence[Endpoint], version: str) -> dict[str, Any]:
    types: list[Any] = [ErrorBody]
    for endpoint in endpoints:
        types += [t for t in (endpoint.body, endpoint.query, endpoint.reply) if t is not None]
    unique = list(dict.fromkeys(types))
    generated, components = msgspec.json.schema_components(unique, ref_template=_REF)
    schemas = dict(zip(unique, [_beside_ref(s) for s in generated], strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, schemas, components)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Turnout admin API", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from TURNOUT_ADMIN_TOKENS (name:role:token)",
                }
            },
        },
    }

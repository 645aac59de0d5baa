"""Admin endpoints for model versions: create (idempotent on content) and list."""

from control.api.endpoint import Call, endpoint
from control.registry import models


@endpoint(
    "POST",
    "/admin/models/{name}/versions",
    role="operator",
    summary="New immutable model version (identical content returns the existing one)",
    status=201,
)
async def create_model_version(call: Call, body: models.ModelIn) -> models.ModelVersion:
    return await models.create(
        call.store, call.param("name"), body, actor=call.actor, now=call.now()
    )


@endpoint("GET", "/admin/models/{name}", role="viewer", summary="All versions of a model")
async def list_model_versions(call: Call) -> list[models.ModelVersion]:
    return await models.list_versions(call.store, call.param("name"))


ENDPOINTS = [create_model_version, list_model_versions]

"""Admin endpoints for prompt versions: create (idempotent on content), list, read."""

from control.api.endpoint import Call, endpoint
from control.errors import BadInput
from control.registry import prompts, rules


@endpoint(
    "POST",
    "/admin/prompts/{name}/versions",
    role="operator",
    summary="New immutable prompt version (identical content returns the existing one)",
    status=201,
)
async def create_prompt_version(call: Call, body: prompts.PromptIn) -> prompts.PromptVersion:
    return await prompts.create(
        call.store, call.param("name"), body, actor=call.actor, now=call.now()
    )


@endpoint("GET", "/admin/prompts/{name}", role="viewer", summary="All versions of a prompt")
async def list_prompt_versions(call: Call) -> list[prompts.PromptVersion]:
    return await prompts.list_versions(call.store, call.param("name"))


@endpoint("GET", "/admin/prompts/{name}/versions/{n}", role="viewer", summary="One prompt version")
async def get_prompt_version(call: Call) -> prompts.PromptVersion:
    number = call.param("n")
    if not rules.is_version_number(number):
        raise BadInput(f"n: the version must be a number from 1, got {number!r}", field="n")
    return await prompts.get_version(call.store, call.param("name"), int(number))


ENDPOINTS = [create_prompt_version, list_prompt_versions, get_prompt_version]

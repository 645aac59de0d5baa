"""Admin endpoints for providers: upsert (audited, admin only) and list (no secrets)."""

from control.api.endpoint import Call, endpoint
from control.registry import providers
from gateway.contract.snapshot import ProviderSpec


@endpoint(
    "PUT",
    "/admin/providers/{name}",
    role="admin",
    summary="Create (201) or update (200) a provider; audited",
    status=201,
)
async def put_provider(call: Call, body: providers.ProviderIn) -> providers.ProviderOut:
    return await providers.put(call.store, call.param("name"), body, actor=call.actor)


@endpoint("GET", "/admin/providers", role="viewer", summary="List providers (never secrets)")
async def list_providers(call: Call) -> list[ProviderSpec]:
    return await providers.list_all(call.store)


ENDPOINTS = [put_provider, list_providers]

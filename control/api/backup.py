"""Admin endpoints for backups: export the whole registry, restore it (admin only)."""

from control.api.endpoint import Call, endpoint
from control.backup import export, restore


@endpoint(
    "GET",
    "/admin/export",
    role="admin",
    summary="The whole registry as one document (`audit=true` adds the audit trail)",
)
async def export_registry(call: Call, query: export.ExportQuery) -> export.RegistryExport:
    return await export.export(call.store, with_audit=query.audit, now=call.now())


@endpoint(
    "POST",
    "/admin/restore",
    role="admin",
    summary="Re-seed the registry from an export or a gateway's snapshot.json; puts the data "
    "epoch back and clears the data-lost marker (409 over live data without force)",
    epoch_check=False,
)
async def restore_registry(call: Call, body: restore.RestoreBody) -> restore.RestoreOut:
    return await restore.restore(call.store, body, actor=call.actor)


ENDPOINTS = [export_registry, restore_registry]

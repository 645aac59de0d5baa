"""Admin endpoint for the audit trail."""

from control.api.endpoint import Call, endpoint
from control.routes import audit


@endpoint("GET", "/admin/audit", role="viewer", summary="The audit trail, oldest first")
async def read_audit(call: Call, query: audit.AuditQuery) -> list[audit.AuditEntry]:
    return await audit.read(call.store, query)


ENDPOINTS = [read_audit]

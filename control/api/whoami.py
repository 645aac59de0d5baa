"""Admin endpoint telling a token's holder who they are: the name (the audit actor) and role.

The dashboard signs in with it and shows only the actions the role allows (the API still
checks every call)."""

from control.api.auth import Identity
from control.api.endpoint import Call, endpoint


@endpoint("GET", "/admin/whoami", role="viewer", summary="The caller's name and role")
async def whoami(call: Call) -> Identity:
    assert call.identity is not None  # role-checked endpoints always have one
    return call.identity


ENDPOINTS = [whoami]

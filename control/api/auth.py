"""Bearer-token auth for the admin API: tokens from `TURNOUT_ADMIN_TOKENS`, three roles.

`viewer` may read, `operator` may also change routes and add versions and releases, `admin` may
do everything (providers, new routes). Tokens are compared in constant time, all of them on
every call, so timing reveals neither a token nor which one matched.
"""

import hashlib
import hmac
from typing import Literal

import msgspec

from control.errors import Forbidden, Unauthorized
from gateway.contract.settings import SettingsError

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")  # each includes the ones before
_ROLE_BY_NAME: dict[str, Role] = {role: role for role in ROLES}


class Identity(msgspec.Struct, frozen=True):
    name: str  # the audit actor
    role: Role


def parse_tokens(text: str) -> list[tuple[bytes, Identity]]:
    """`name:role:token,…` -> (sha256 of the token, identity); SettingsError on a bad entry."""
    parsed: list[tuple[bytes, Identity]] = []
    for index, entry in enumerate(filter(None, (e.strip() for e in text.split(",")))):
        parts = entry.split(":", 2)
        role = _ROLE_BY_NAME.get(parts[1]) if len(parts) == 3 else None
        if role is None or not all(parts):
            raise SettingsError(
                f"TURNOUT_ADMIN_TOKENS entry {index + 1} must be 'name:role:token' with role "
                f"one of {', '.join(ROLES)}"
            )
        name, _, token = parts
        if len(token) < 16:
            raise SettingsError(
                f"TURNOUT_ADMIN_TOKENS entry {index + 1} ({name}): the token must have at "
                "least 16 characters"
            )
        parsed.append((hashlib.sha256(token.encode()).digest(), Identity(name, role)))
    return parsed


class Authenticator:
    def __init__(self, tokens: list[tuple[bytes, Identity]]) -> None:
        self._tokens = tokens

    def identify(self, authorization: str | None) -> Identity:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        digest = hashlib.sha256(token.strip().encode()).digest()
        found: Identity | None = None
        for known, identity in self._tokens:
            if hmac.compare_digest(known, digest):
                found = identity
        if found is None:
            raise Unauthorized("invalid token")
        return found


def authorize(identity: Identity, required: Role) -> None:
    if ROLES.index(identity.role) < ROLES.index(required):
        raise Forbidden(
            f"{identity.name} has role {identity.role}; this needs {required} or higher",
            code="forbidden",
        )

"""The control plane's one error family: a status, a message naming the rule, and the field.

Raised by the registry, route changes and the admin API alike; rendered to JSON in one place
(`control.api.errors`). No I/O here.
"""

import re

import msgspec

_PATH = re.compile(r" - at `\$\.?(.*)`$")
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


class ControlError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


# The codes of a 400. `invalid_input`: a rule the OpenAPI document states in its schema (shape,
# pattern, range). The other two are rules JSON Schema cannot state, described there in words:
UNKNOWN_REFERENCE = "unknown_reference"  # names a provider, version or release that does not exist
BROKEN_RULE = "broken_rule"  # a rule across fields or values: weights sum to 100, templates, …


class BadInput(ControlError):
    """The request breaks a rule: nothing was written."""

    status = 400
    code = "invalid_input"


class Unauthorized(ControlError):
    status = 401
    code = "unauthorized"


class Forbidden(ControlError):
    status = 403
    code = "forbidden"


class NotFound(ControlError):
    status = 404
    code = "not_found"


class Conflict(ControlError):
    """The state moved since the caller read it (stale revision) or the name is taken."""

    status = 409
    code = "conflict"


class ErrorDetail(msgspec.Struct, frozen=True):
    message: str  # names the field and the rule
    field: str | None  # the offending field's path, e.g. "weights.r2", when there is one
    code: str  # machine-readable: invalid_input, unauthorized, forbidden, not_found, …


class ErrorBody(msgspec.Struct, frozen=True):
    """Every admin API error on the wire: rendered by `control.api.errors`, decoded by the CLI."""

    error: ErrorDetail


def from_validation(error: msgspec.ValidationError, prefix: str = "") -> BadInput:
    """msgspec's error, with its JSON path as the field: "Object contains unknown field `x` -
    at `$.release`" names `release.x`."""
    message = str(error)
    match = _PATH.search(message)
    field = match.group(1) if match else ""
    named = _NAMED_FIELD.search(message)
    if named:
        field = f"{field}.{named.group(1)}" if field else named.group(1)
    # A ValueError behind it was raised by a Struct's `__post_init__`: a rule across fields, which
    # JSON Schema cannot state (msgspec chains it as the cause).
    code = BROKEN_RULE if isinstance(error.__cause__, ValueError) else None
    path = f"{prefix}{field}" if field else prefix.rstrip(".") or None
    return BadInput(message, field=path, code=code)

"""The control plane's one error family: a status, a message naming the rule, and the field.

Raised by the registry, route changes and the admin API alike; rendered to JSON in one place
(`control.api.errors`). No I/O here.
"""


class ControlError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


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

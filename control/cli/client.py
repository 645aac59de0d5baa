"""A small synchronous client of the admin API for the operator CLI (stdlib HTTP, msgspec JSON).

Errors come back as `ApiError` carrying the server's uniform error body, or `Unreachable`.
"""

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, overload

import msgspec

from control.errors import ErrorBody

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8081"
TOKEN_FILE = "admin-token"  # in the data dir; written by `turnout up` when it generates a token


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code


class Unreachable(Exception):
    """No answer from the admin API (connection refused, DNS, time-out)."""


_error_decoder = msgspec.json.Decoder(ErrorBody)


class Token(NamedTuple):
    value: str | None
    source: str  # where it came from; when none was found, everywhere that was looked at


def find_token(explicit: str | None, data_dir: str) -> Token:
    """--token, else TURNOUT_ADMIN_TOKEN, else the token `turnout up` stored in the data dir."""
    if explicit:
        return Token(explicit, "--token")
    if os.environ.get("TURNOUT_ADMIN_TOKEN"):
        return Token(os.environ["TURNOUT_ADMIN_TOKEN"], "TURNOUT_ADMIN_TOKEN")
    stored = Path(data_dir).resolve() / TOKEN_FILE
    try:
        value = stored.read_text().strip()
    except OSError:
        value = ""
    if value:
        return Token(value, str(stored))
    return Token(None, f"--token, TURNOUT_ADMIN_TOKEN and {stored} (no token in any)")


class AdminClient:
    def __init__(self, base_url: str, token: str | None, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    @overload
    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str | int | None] | None = None,
    ) -> Any: ...

    @overload
    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str | int | None] | None = None,
        *,
        reply: type[T],
    ) -> T: ...

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str | int | None] | None = None,
        *,
        reply: Any = Any,
    ) -> Any:
        """The answer decoded into `reply`, the API's own response type (plain JSON without)."""
        url = f"{self.base_url}{path}"
        given = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if given:
            url += "?" + urllib.parse.urlencode(given)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _api_error(error.code, error.read()) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(f"cannot reach the admin API at {self.base_url}: {reason}") from None
        try:
            return msgspec.json.decode(raw, type=reply)
        except msgspec.DecodeError as error:  # ValidationError included
            raise Unreachable(
                f"the admin API at {self.base_url} answered {method} {path} with an unexpected "
                f"body ({error}); is it the same Turnout version as this CLI?"
            ) from None


def _api_error(status: int, raw: bytes) -> ApiError:
    try:
        detail = _error_decoder.decode(raw).error
    except msgspec.DecodeError:  # not Turnout's error body (a proxy's page, say)
        return ApiError(status, f"HTTP {status}: {raw[:200].decode(errors='replace')}", None, "")
    return ApiError(status, detail.message, detail.field, detail.code)

"""The gateway's HTTP listener: aiohttp's server, with its own protocol-level errors (a request
too malformed to reach a handler) answered OpenAI-shaped and logged as one rate-limited line.

aiohttp answers those itself, in plain text, logging an 11-line traceback per request: any
client could fill the log. There is no public hook for that answer, so the runner swaps in a
request-handler class whose `handle_error` renders the gateway's error body. Nothing else of
aiohttp's behaviour changes.
"""

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from gateway.errors import GatewayError
from gateway.notices import Notices

_CODES = {400: "bad_http_request", 413: "request_too_large", 431: "headers_too_large"}


class _GatewayRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: a started response cannot be replaced
            raise ConnectionError("response already started, cannot send the error")
        notices: Notices = self._manager.notices  # type: ignore[union-attr]
        reason = message or (str(exc) if exc is not None else "") or "malformed request"
        reason = reason.splitlines()[0][:200] if reason.strip() else "malformed request"
        notices.warn(
            f"http_{status}", "answered %d to %s: %s", status, request.remote or "?", reason
        )
        if status >= 500:
            error = GatewayError(
                status, "internal gateway error", type_="server_error", code="internal_error"
            )
        else:
            error = GatewayError(
                status, f"malformed HTTP request: {reason}", code=_CODES.get(status, "bad_request")
            )
        response = error.response()
        response.force_close()
        return response


class _GatewayServer(web.Server):
    notices: Notices

    def __call__(self) -> RequestHandler:
        return _GatewayRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """An AppRunner whose connections render protocol errors the gateway's way."""

    def __init__(self, app: web.Application, notices: Notices, **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]
        self._notices = notices

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GatewayServer  # same state, one overridden factory method
        server.notices = self._notices  # type: ignore[attr-defined]
        return server

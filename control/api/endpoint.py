"""Declaring admin endpoints: one typed handler per operation, described by its signature.

`async def handler(call: Call, body: SomeIn) -> SomeOut` (or `query: SomeQuery`) declares the
request and response shapes once: the app decodes with them (unknown fields refused) and the
OpenAPI document is generated from them, so the document matches what the server accepts.
"""

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from control.api.auth import Identity, Role
from control.store import Store

HandlerFn = Callable[..., Awaitable[Any]]

STORE = web.AppKey("turnout_control_store", Store)


class Call:
    """What a handler gets besides its body: the caller's identity, the store, path params."""

    __slots__ = ("identity", "request")

    def __init__(self, request: web.Request, identity: Identity | None) -> None:
        self.request = request
        self.identity = identity

    @property
    def store(self) -> Store:
        return self.request.app[STORE]

    @property
    def actor(self) -> str:
        return self.identity.name if self.identity else "anonymous"

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # aiohttp pattern, e.g. "/admin/routes/{route}"
    handler: HandlerFn
    role: Role | None  # None: public
    summary: str
    status: int  # on success; 200 instead when the reply says `created: false` (already there)
    body: Any  # request body type, or None
    query: Any  # query-string Struct, or None
    reply: Any  # response type
    epoch_check: bool  # refused with a 503 while Redis lost its data (every change but restore)

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


def endpoint(
    method: str,
    path: str,
    *,
    role: Role | None,
    summary: str,
    status: int = 200,
    epoch_check: bool | None = None,
) -> Callable[[HandlerFn], Endpoint]:
    """`epoch_check` defaults to True for every method but GET."""

    def declare(handler: HandlerFn) -> Endpoint:
        hints = typing.get_type_hints(handler, include_extras=True)  # keep Meta on bodies
        params = inspect.signature(handler).parameters
        unexpected = set(params) - {"call", "body", "query"}
        if unexpected:
            raise TypeError(f"{handler.__name__}: unexpected parameters {sorted(unexpected)}")
        return Endpoint(
            method=method,
            path=path,
            handler=handler,
            role=role,
            summary=summary,
            status=status,
            body=hints.get("body") if "body" in params else None,
            query=hints.get("query") if "query" in params else None,
            reply=hints["return"],
            epoch_check=method != "GET" if epoch_check is None else epoch_check,
        )

    return declare


def status_of(endpoint: Endpoint, reply: object) -> int:
    return 200 if getattr(reply, "created", True) is False else endpoint.status


def decode_query(query_type: Any, request: web.Request) -> Any:
    return msgspec.convert(dict(request.query), query_type, strict=False)

"""Resolution of a call to a route and a release. Pure over the routing table; no I/O."""

from collections.abc import Mapping
from typing import Any

from gateway.errors import GatewayError, bad_request
from gateway.routing import RoutingTable, ServedRelease, ServedRoute
from gateway.settings import ClientKey

STICKY_HEADER = "X-Turnout-Sticky-Key"
PIN_HEADER = "X-Turnout-Release"


def find_route(table: RoutingTable, body: Mapping[str, Any]) -> ServedRoute:
    name = body.get("model")
    if name is None:
        raise bad_request("you must provide a model parameter (the route name)", param="model")
    if not isinstance(name, str):
        raise bad_request("'model' must be a string naming a route", param="model")
    route = table.routes.get(name)
    if route is None:
        raise GatewayError(
            404,
            f"The model '{name}' does not exist: no route of that name",
            code="model_not_found",
            param="model",
        )
    return route


def choose_release(
    route: ServedRoute,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    client: ClientKey | None,
    rng: Any,
) -> tuple[ServedRelease, bool]:
    """The release serving a call, and whether its sticky key placed it (a pinned call records
    no key: it is not part of the split, and counts among the requests drawn per call)."""
    # The kill switch (an emergency): its release for every call, pins included. Still counted
    # with its sticky key below, so the blast radius of the killed route stays measured.
    forced = route.forced
    pinned = headers.get(PIN_HEADER)
    if pinned is not None and forced is None:
        if client is not None and not client.may_pin:
            raise GatewayError(
                403,
                f"this API key may not pin a release ({PIN_HEADER})",
                type_="permission_error",
                code="pin_not_allowed",
            )
        release = route.releases.get(pinned)
        if release is None:
            raise bad_request(
                f"release {pinned!r} is not a release of route {route.name!r}",
                param=PIN_HEADER,
                code="unknown_release",
            )
        return release, False
    key = headers.get(STICKY_HEADER)
    if key is None:
        user = body.get("user")
        key = user if isinstance(user, str) and user else None
    release = route.pick(key, rng) if forced is None else forced
    if key is not None:
        release.stats.note_key(key)  # in-process set; the flush sends it to a HyperLogLog
    return release, route.sticky and key is not None

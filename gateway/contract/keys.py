"""Redis key and channel names shared by the control plane (writer) and gateways (readers).

Every key of one route shares one hash tag so one Lua script can touch them all on Redis Cluster:
the route's own `{route:NAME}`, or, once the route joined group G, the group's `{group:G}` (its
"home"), so a change set over every route of a group is one script and gateways read the group
in one atomic read. `ROUTE_HOMES` says which routes live in a group's slot; a route absent
from it lives under its own tag.
"""

PREFIX = "turnout"

ROUTE_INDEX = f"{PREFIX}:routes"  # set of route names
PROVIDERS = f"{PREFIX}:providers"  # hash: provider name -> ProviderSpec JSON
CHANGES_CHANNEL = f"{PREFIX}:changes"  # pub/sub: ChangeEvent JSON


# Hash: route -> group, for every route whose keys live in its group's slot. Tagged with the
# route index's own name, so index and homes share a slot and are read in one atomic step.
ROUTE_HOMES = f"{PREFIX}:{{{ROUTE_INDEX}}}:homes"


def route_tag(route: str) -> str:
    return f"{PREFIX}:{{route:{route}}}"


def group_tag(group: str) -> str:
    """Hash tag of a route group: its routes' keys (`route_home`) and the group's own records
    (e.g. its rollout) share this slot."""
    return f"{PREFIX}:{{group:{group}}}"


def route_home(route: str, group: str | None = None) -> str:
    """The prefix of a route's keys: its own tag, or its group's slot when it lives there."""
    return route_tag(route) if group is None else f"{group_tag(group)}:route:{route}"


def route_state(route: str, group: str | None = None) -> str:
    """String: RouteState JSON."""
    return f"{route_home(route, group)}:state"


def route_releases(route: str, group: str | None = None) -> str:
    """Hash: release id -> ReleaseSpec JSON (immutable entries)."""
    return f"{route_home(route, group)}:releases"


def route_audit(route: str, group: str | None = None) -> str:
    """Stream: audit entries of the route."""
    return f"{route_home(route, group)}:audit"


def route_moved(route: str, group: str | None = None) -> str:
    """String in a slot the route does not live in (any more): "moving:G" while its keys are
    copied to group G's slot, "moved:G" after. Every writing script refuses a marked slot."""
    return f"{route_home(route, group)}:moved"


# Durability (see `gateway.contract.durability`): the data epoch, the data-lost marker and the
# explicit deletions, so that an absent route is never read as a deleted one.
EPOCH = f"{PREFIX}:epoch"  # string: DataEpoch JSON, written by the control plane (and restore)
DATA_LOST = f"{PREFIX}:data_lost"  # hash: LOST_FIELDS plus "revision:ROUTE:PROCESS" -> revision
DELETED_ROUTES = f"{PREFIX}:deleted_routes"  # hash: route -> RouteDeletion JSON (audited deletes)

"""Redis key and channel names shared by the control plane (writer) and gateways (readers).

Every key of one route carries the hash tag `{route:NAME}` so one Lua script can touch them all on
Redis Cluster.
"""

PREFIX = "turnout"

ROUTE_INDEX = f"{PREFIX}:routes"  # set of route names
PROVIDERS = f"{PREFIX}:providers"  # hash: provider name -> ProviderSpec JSON
CHANGES_CHANNEL = f"{PREFIX}:changes"  # pub/sub: ChangeEvent JSON


def route_tag(route: str) -> str:
    return f"{PREFIX}:{{route:{route}}}"


def group_tag(group: str) -> str:
    """Hash tag of a route group: the group's own records (e.g. its rollout) share this slot."""
    return f"{PREFIX}:{{group:{group}}}"


def route_state(route: str) -> str:
    """String: RouteState JSON."""
    return f"{route_tag(route)}:state"


def route_releases(route: str) -> str:
    """Hash: release id -> ReleaseSpec JSON (immutable entries)."""
    return f"{route_tag(route)}:releases"


def route_audit(route: str) -> str:
    """Stream: audit entries of the route."""
    return f"{route_tag(route)}:audit"


# Durability (see `gateway.contract.durability`): the data epoch, the data-lost marker and the
# explicit deletions, so that an absent route is never read as a deleted one.
EPOCH = f"{PREFIX}:epoch"  # string: DataEpoch JSON, written by the control plane (and restore)
DATA_LOST = f"{PREFIX}:data_lost"  # hash: LOST_FIELDS plus "revision:ROUTE:PROCESS" -> revision
DELETED_ROUTES = f"{PREFIX}:deleted_routes"  # hash: route -> RouteDeletion JSON (audited deletes)

"""Redis keys the control plane owns beyond the contract (`gateway.contract.keys`).

Keys that one script touches share a hash tag, so every script runs unchanged on Redis Cluster:
a prompt's or model's versions and content index share `{prompt:NAME}` / `{model:NAME}`; a
route's release metadata, rollout, gates and reviews share its home (`keys.route_home`: its own
`{route:NAME}` or its group's `{group:G}`) with its state, releases and audit stream; the
providers' audit stream is tagged with the providers hash's own name, which puts both in one slot.
"""

from gateway.contract import keys

PROVIDERS_AUDIT = f"{{{keys.PROVIDERS}}}:audit"  # stream: provider changes


def release_meta(route: str, group: str | None = None) -> str:
    """Hash: release id -> ReleaseMeta JSON (author, note, time; the gateway never reads it)."""
    return f"{keys.route_home(route, group)}:release_meta"


def versions(kind: str, name: str) -> str:
    """Hash: version number -> record JSON, for kind "prompt" or "model"."""
    return f"{keys.PREFIX}:{{{kind}:{name}}}:versions"


def content_index(kind: str, name: str) -> str:
    """Hash: content hash -> version number, so identical content returns the existing version."""
    return f"{keys.PREFIX}:{{{kind}:{name}}}:by_content"


ROLLOUTS_ACTIVE = f"{keys.PREFIX}:rollouts"  # set of route names whose rollout may need a tick
CONTROLLER_LEASE = f"{keys.PREFIX}:{{controller}}:lease"  # "<fencing token>:<replica id>"
CONTROLLER_TOKENS = f"{keys.PREFIX}:{{controller}}:tokens"  # counter of fencing tokens


def rollout(route: str, group: str | None = None) -> str:
    """String: the route's current (or last) Rollout JSON."""
    return f"{keys.route_home(route, group)}:rollout"


def rollout_fence(route: str, group: str | None = None) -> str:
    """String: the highest controller fencing token that wrote to this route."""
    return f"{keys.route_home(route, group)}:rollout:fence"


def rollout_history(route: str, group: str | None = None) -> str:
    """List: evidence points of the current rollout, oldest first (capped), for plotting."""
    return f"{keys.route_home(route, group)}:rollout:history"


GROUP_ROLLOUTS_ACTIVE = (
    f"{keys.PREFIX}:group_rollouts"  # set of groups whose rollout may need a tick
)


def group_rollout(group: str) -> str:
    """String: the group's current (or last) GroupRollout JSON."""
    return f"{keys.group_tag(group)}:rollout"


def group_rollout_fence(group: str) -> str:
    """String: the highest controller fencing token that wrote to this group's rollout."""
    return f"{keys.group_tag(group)}:rollout:fence"


def group_rollout_history(group: str) -> str:
    """List: evidence points of the group's current rollout, oldest first (capped)."""
    return f"{keys.group_tag(group)}:rollout:history"


def gates(route: str, group: str | None = None) -> str:
    """Hash: release id -> GateRecord JSON, the eval gate's latest verdict on that release."""
    return f"{keys.route_home(route, group)}:gates"


def gate_dataset(route: str, group: str | None = None) -> str:
    """String: content hash of the dataset the route's latest verdict used (its current set)."""
    return f"{keys.route_home(route, group)}:gate_dataset"


# Windows are few and read together on every guarded change: one hash, one audit stream, one slot.
WINDOWS = f"{keys.PREFIX}:{{windows}}"  # hash: window name -> Window JSON
WINDOWS_AUDIT = f"{keys.PREFIX}:{{windows}}:audit"  # stream: window changes


def reviews(route: str, group: str | None = None) -> str:
    """Hash: review id (the audit entry id of the emergency change) -> Review JSON."""
    return f"{keys.route_home(route, group)}:reviews"

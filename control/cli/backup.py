"""The backup verbs: `turnout export [--out FILE]`, `turnout restore --from FILE`, and the
audited `turnout route delete` that goes with them (the only way a route leaves the gateways).
"""

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from control.backup.restore import RestoreOut
from control.cli import output
from control.cli.client import AdminClient
from control.routes.deletion import Deleted

EXIT_USAGE = 2


def export(client: AdminClient, args: argparse.Namespace) -> int:
    document = client.call("GET", "/admin/export", query={"audit": "true" if args.audit else None})
    text = msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"
    if args.out is None:
        sys.stdout.buffer.write(text)
        return 0
    target = Path(args.out)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(text)
    temporary.replace(target)  # a backup is whole or absent, never half-written
    print(
        f"exported {len(document['routes'])} route(s), {len(document['providers'])} provider(s), "
        f"{sum(len(v) for v in document['prompts'].values())} prompt version(s), "
        f"{sum(len(v) for v in document['models'].values())} model version(s), "
        f"{len(document.get('windows', []))} window(s), "
        f"{sum(len(v) for v in document.get('reviews', {}).values())} open review item(s), "
        f"{len(document.get('webhooks', []))} webhook(s) to {target}",
        file=sys.stderr,
    )
    return 0


def _source(path: str) -> tuple[str, Any] | None:
    """("export" | "snapshot", document), or None after saying what is wrong with the file."""
    try:
        document = msgspec.json.decode(Path(path).read_bytes())
    except OSError as error:
        print(f"turnout: cannot read {path}: {error.strerror}", file=sys.stderr)
        return None
    except msgspec.DecodeError as error:
        print(f"turnout: {path} is not JSON: {error}", file=sys.stderr)
        return None
    if isinstance(document, dict) and document.get("format") == "turnout-export":
        return "export", document
    if isinstance(document, dict) and {"routes", "providers"} <= document.keys():
        return "snapshot", document
    print(
        f"turnout: {path} is neither a `turnout export` file nor a gateway's snapshot.json",
        file=sys.stderr,
    )
    return None


def restore(client: AdminClient, args: argparse.Namespace) -> int:
    found = _source(args.source)
    if found is None:
        return EXIT_USAGE
    kind, document = found
    reason = args.reason or f"restore from {Path(args.source).name}"
    body = {kind: document, "reason": reason, "force": args.force}
    answer = client.call("POST", "/admin/restore", body, reply=RestoreOut)
    if args.json:
        output.emit_json(answer)
        return 0
    if answer.was_lost:
        output.emit(f"Redis had lost its data: {answer.was_lost}")
    routes = ", ".join(f"{name}@{rev}" for name, rev in sorted(answer.routes.items()))
    output.emit(
        f"restored from {kind}: {len(answer.routes)} route(s) ({routes or '-'}), "
        f"{answer.providers} provider(s), {answer.prompt_versions} prompt version(s), "
        f"{answer.model_versions} model version(s), {answer.windows} window(s), "
        f"{answer.reviews} open review item(s), {answer.webhooks} webhook(s); "
        f"data epoch {answer.epoch.id}; changes are accepted again"
    )
    return 0


def route_delete(client: AdminClient, args: argparse.Namespace) -> int:
    path, body = f"/admin/routes/{args.route}", {"reason": args.reason}
    answer = client.call("DELETE", path, body, reply=Deleted)
    if args.json:
        output.emit_json(answer)
        return 0
    output.emit(f"deleted route {answer.route} (last revision {answer.revision})")
    for label, names in (
        ("closed review item(s)", answer.closed_reviews),
        ("removed window(s)", answer.removed_windows),
        ("removed webhook(s)", answer.removed_webhooks),
    ):
        if names:
            output.emit(f"  {label}: {', '.join(names)}")
    return 0


def add_verbs(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    route: "argparse._SubParsersAction[argparse.ArgumentParser]",
    common: argparse.ArgumentParser,
    wrap: Any,
) -> None:
    out = commands.add_parser(
        "export",
        help="back up the whole registry, windows, open review items and webhooks (no secrets: "
        "a webhook names its secret's environment variable, which the restored control plane "
        "needs set again)",
        parents=[common],
    )
    out.add_argument("--out", help="file to write (default: standard output)")
    out.add_argument("--audit", action="store_true", help="include the audit trail")
    out.set_defaults(run=wrap(export))

    back = commands.add_parser(
        "restore",
        help="re-seed the registry from an export or a gateway's snapshot.json",
        parents=[common],
    )
    back.add_argument("--from", dest="source", required=True, metavar="FILE")
    back.add_argument("--reason", "-m", help="recorded in the audit trail")
    back.add_argument(
        "--force", action="store_true", help="restore over a registry that did not lose its data"
    )
    back.set_defaults(run=wrap(restore))

    delete = route.add_parser(
        "delete",
        help="delete a route (audited) with its review items, gate verdicts, rollout record and "
        "the windows and webhooks scoped to it; refused while its rollout is active",
        parents=[common],
    )
    delete.add_argument("route")
    delete.add_argument("--reason", "-m", required=True, help="why (recorded in the audit trail)")
    delete.set_defaults(run=wrap(route_delete))

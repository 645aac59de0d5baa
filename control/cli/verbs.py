"""The operator verbs of the `turnout` command: each calls the admin API and prints an aligned
table (or JSON with --json). Exit codes: 0 done; 1 refused (bad input, not found, conflict) or
lint problems; 2 usage; 3 not authorized (401/403); 4 admin API unreachable or failing.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from control.cli import output
from control.cli.apply import apply
from control.cli.client import AdminClient, ApiError, Token, Unreachable, find_token
from control.cli.retry import describe as describe_retry
from control.cli.windows import window_span
from control.eval import gate
from control.registry.declared import parse
from control.routes import views
from control.routes.audit import AuditEntry
from control.routes.resolve import Resolution
from control.windows.model import Window

EXIT_REFUSED, EXIT_USAGE, EXIT_AUTH, EXIT_UNREACHABLE = 1, 2, 3, 4

Verb = Callable[[AdminClient, argparse.Namespace], int]


def _token_hint(token: Token, admin_url: str) -> str:
    """What to do about a 401: where a token was looked for, or which one was refused."""
    if token.value is None:
        return (
            f"no admin token found: looked at {token.source}; pass --token, set "
            "TURNOUT_ADMIN_TOKEN, or --data-dir of the `turnout up` that generated one"
        )
    return f"the admin API at {admin_url} does not accept the token from {token.source}"


def runner(verb: Verb) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        token = find_token(args.token, args.data_dir)
        try:
            return verb(AdminClient(args.admin_url, token.value), args)
        except ApiError as error:
            named = error.field and not error.message.startswith(error.field)
            where = f" [{error.field}]" if named else ""
            print(f"turnout: {error.message}{where} (HTTP {error.status})", file=sys.stderr)
            if error.status in (401, 403):
                if error.status == 401:
                    print(f"turnout: {_token_hint(token, args.admin_url)}", file=sys.stderr)
                return EXIT_AUTH
            return EXIT_REFUSED if error.status < 500 else EXIT_UNREACHABLE
        except Unreachable as error:
            print(f"turnout: {error}", file=sys.stderr)
            return EXIT_UNREACHABLE

    return run


def _key_values(items: list[str], flag: str, *, parse_json: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"turnout: {flag} takes KEY=VALUE, got {item!r}")
        if parse_json:
            try:
                values[key] = msgspec.json.decode(value)
            except msgspec.DecodeError:
                values[key] = value
        else:
            values[key] = value
    return values


def _weights(items: list[str]) -> dict[str, Any]:
    weights: dict[str, Any] = {}
    for key, value in _key_values(items, "weights", parse_json=False).items():
        try:
            weights[key] = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            weights[key] = value  # the API names the release and the rule
    return weights


def _route_table(route: views.RouteOut) -> str:
    head = (
        f"route {route.name}  revision {route.revision}  stable {route.stable}  "
        f"sticky {'yes' if route.sticky else 'no'}  pinned {'yes' if route.pinned else 'no'}"
    )
    rows = [
        [
            r.id,
            output.percent(r.weight),
            r.change_type,
            r.prompt.ref if r.prompt else None,
            r.model.ref,
            output.pairs(r.params),
            output.pairs(r.artifacts),
            r.author,
            r.created_at.isoformat()[:19].replace("T", " ") if r.created_at else "",
            r.note,
        ]
        for r in route.releases
    ]
    headers = ["RELEASE", "WEIGHT%", "CHANGE", "PROMPT", "MODEL", "PARAMS", "ARTIFACTS"]
    lines = [head]
    if route.kill_switch:
        lines.append(f"KILL SWITCH: every call gets {route.kill_switch}")
    if route.freeze:
        lines.append(f"FROZEN by window {route.freeze.window}: {route.freeze.reason}")
    for review in route.open_reviews:
        lines.append(
            f"NEEDS REVIEW {review.id}: {review.action} by {review.actor} "
            f"({review.reason}); turnout review ack {route.name} {review.id} --note ..."
        )
    lines.append(output.table([*headers, "AUTHOR", "CREATED", "NOTE"], rows))
    lines.append(describe_retry(msgspec.to_builtins(route.retry)))
    return "\n".join(lines)


def _show(args: argparse.Namespace, route: views.RouteOut) -> int:
    output.emit_json(route) if args.json else output.emit(_route_table(route))
    return 0


def routes(client: AdminClient, args: argparse.Namespace) -> int:
    found = client.call("GET", "/admin/routes", reply=list[views.RouteSummary])
    if args.json:
        output.emit_json(found)
        return 0
    rows = [
        [r.name, r.revision, r.stable, output.weights(r.weights), r.sticky, r.pinned, r.releases]
        for r in found
    ]
    headers = ["ROUTE", "REV", "STABLE", "WEIGHTS%", "STICKY", "PINNED", "RELEASES"]
    output.emit(output.table(headers, rows) if rows else "no routes")
    return 0


def _route_call(client: AdminClient, method: str, path: str, body: object = None) -> views.RouteOut:
    return client.call(method, path, body, reply=views.RouteOut)


def route_show(client: AdminClient, args: argparse.Namespace) -> int:
    route = _route_call(client, "GET", f"/admin/routes/{args.route}")
    path = f"/admin/routes/{args.route}/gates"  # eval verdict per release
    gates = client.call("GET", path, reply=dict[str, gate.Status])
    if args.json:
        output.emit_json({**msgspec.structs.asdict(route), "gates": gates})
        return 0
    shown = " ".join(f"{r}={status}" for r, status in gates.items()) or "no verdicts"
    output.emit(f"{_route_table(route)}\neval gate: {shown}")
    return 0


def release_create(client: AdminClient, args: argparse.Namespace) -> int:
    body = {
        "model": args.model,
        "prompt": args.prompt,
        "params": _key_values(args.param, "--param", parse_json=True),
        "artifacts": _key_values(args.artifact, "--artifact", parse_json=False),
        "note": args.note,
    }
    path = f"/admin/routes/{args.route}/releases"
    created = client.call("POST", path, body, reply=views.ReleaseCreated)
    if args.json:
        output.emit_json(created)
    else:
        release = created.release
        output.emit(
            f"{args.route}: created {release.id} (change: {release.change_type}) at 0%; "
            f"route revision {created.revision}"
        )
    return 0


def weights_set(client: AdminClient, args: argparse.Namespace) -> int:
    revision = args.expected_revision
    if revision is None:
        revision = _route_call(client, "GET", f"/admin/routes/{args.route}").revision
    body = {"weights": _weights(args.weights), "expected_revision": revision, "reason": args.reason}
    if args.emergency:
        body["emergency"] = True
    return _show(args, _route_call(client, "PUT", f"/admin/routes/{args.route}/weights", body))


def promote(client: AdminClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"release": args.release, "reason": args.reason}
    if args.expected_revision is not None:
        body["expected_revision"] = args.expected_revision
    if args.emergency:
        body["emergency"] = True
    return _show(args, _route_call(client, "POST", f"/admin/routes/{args.route}/promote", body))


def rollback(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"reason": args.reason, "to": args.to, "emergency": args.emergency}
    path = f"/admin/routes/{args.route}/rollback"
    answer = client.call("POST", path, body, reply=views.RollbackOut)
    if not args.json and not answer.changed:
        output.emit(f"{args.route}: {answer.message}")
        return 0
    return _show(args, answer)


def kill(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"release": args.release, "reason": args.reason}
    return _show(args, _route_call(client, "POST", f"/admin/routes/{args.route}/kill", body))


def unkill(client: AdminClient, args: argparse.Namespace) -> int:
    body = {"reason": args.reason}
    return _show(args, _route_call(client, "POST", f"/admin/routes/{args.route}/unkill", body))


def pin(client: AdminClient, args: argparse.Namespace) -> int:
    verb = "pin" if args.verb == "pin" else "unpin"
    path = f"/admin/routes/{args.route}/{verb}"
    return _show(args, _route_call(client, "POST", path, {"reason": args.reason}))


def resolve(client: AdminClient, args: argparse.Namespace) -> int:
    query: dict[str, str | int | None] = {"route": args.route, "key": args.key}
    answer = client.call("GET", "/admin/resolve", query=query, reply=Resolution)
    if args.json:
        output.emit_json(answer)
        return 0
    prompt = answer.prompt.ref if answer.prompt else "-"
    output.emit(
        f"{answer.route} key {answer.key!r} -> {answer.release} "
        f"(bucket {answer.bucket}, revision {answer.revision}): prompt {prompt}, "
        f"model {answer.model.ref}, artifacts {output.pairs(answer.artifacts) or '-'}"
    )
    return 0


def _change(entry: AuditEntry) -> str:
    before, after = entry.before, entry.after
    if entry.window:
        return window_span(msgspec.convert(after, Window)) if after else "deleted"
    if entry.route is None:
        return str((after or {}).get("base_url", ""))
    if after is None:  # a deletion, a review.ack and others that do not move the pointer
        return "deleted" if entry.action == "route.delete" else ""
    if before is None:
        return f"-> {output.weights(after['weights'], skip_zero=True)}"
    parts = []
    if before["weights"] != after["weights"]:
        parts.append(
            f"{output.weights(before['weights'], skip_zero=True)} -> "
            f"{output.weights(after['weights'], skip_zero=True)}"
        )
    if before["stable"] != after["stable"]:
        parts.append(f"stable {before['stable']} -> {after['stable']}")
    if before["pinned"] != after["pinned"]:
        parts.append("pinned" if after["pinned"] else "unpinned")
    if before.get("kill_switch") != after.get("kill_switch"):
        killed = after.get("kill_switch")
        parts.append(f"kill switch -> {killed}" if killed else "kill switch lifted")
    if before.get("retry") != after.get("retry"):
        parts.append(describe_retry(after.get("retry")))
    if entry.release:
        parts.append(f"+{entry.release}")
    return "; ".join(parts)


def audit(client: AdminClient, args: argparse.Namespace) -> int:
    query: dict[str, str | int | None] = {
        "route": args.route,
        "since": args.since,
        "limit": args.limit,
    }
    entries = client.call("GET", "/admin/audit", query=query, reply=list[AuditEntry])
    if args.json:
        output.emit_json(entries)
        return 0
    rows = [
        [
            e.time.isoformat()[:19].replace("T", " "),
            e.route or (f"window {e.window}" if e.window else f"provider {e.provider}"),
            e.action,
            e.actor,
            e.revision,
            _change(e),
            e.reason,
        ]
        for e in entries
    ]
    headers = ["TIME (UTC)", "ROUTE", "ACTION", "ACTOR", "REV", "CHANGE", "REASON"]
    output.emit(output.table(headers, rows) if rows else "no audit entries")
    return 0


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        print(f"turnout: cannot read {path}: {error.strerror}", file=sys.stderr)
        return None


def lint_file(args: argparse.Namespace) -> int:
    text = _read(args.file)
    if text is None:
        return EXIT_USAGE
    declared, problems = parse(text)
    for problem in problems:
        print(f"{args.file}: {problem.where}: {problem.message}", file=sys.stderr)
    if problems:
        print(f"{args.file}: {len(problems)} problem(s)", file=sys.stderr)
        return EXIT_REFUSED
    counts = ", ".join(
        f"{len(getattr(declared, section))} {section}"
        for section in ("providers", "prompts", "models", "routes")
    )
    print(f"{args.file}: ok ({counts})")
    return 0


def apply_file(client: AdminClient, args: argparse.Namespace) -> int:
    text = _read(args.file)
    if text is None:
        return EXIT_USAGE
    declared, problems = parse(text)
    if problems:
        return lint_file(args)
    changes = apply(client, declared)
    if args.json:
        output.emit_json(changes)
        return 0
    changed = [c for c in changes if c.action not in ("unchanged",)]
    for change in changed:
        detail = f"  ({change.detail})" if change.detail else ""
        output.emit(f"{change.action:<9} {change.kind:<8} {change.name}{detail}")
    real = [c for c in changed if c.action != "note"]
    output.emit(f"{len(real)} change(s)" if real else "no changes: the registry matches the file")
    return 0

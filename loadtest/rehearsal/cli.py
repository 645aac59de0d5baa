"""`turnout loadtest run SCENARIO.toml`: rehearse a split or a rollout against a deployment on
this machine (`--gateway`/`--admin`/`--simulator` URLs) or a stack it starts itself (`--local`),
then write the HTML and JSON report. Exit 0; 2 with `--check` when a check failed; 1 when the
rehearsal could not run.
"""

import argparse
import os
import sys
from pathlib import Path


def cmd_run(args: argparse.Namespace) -> int:
    # imported here: `turnout --help` and the other commands should not load numpy and friends
    from loadtest.procs import ChildFailed
    from loadtest.rehearsal.admin import AdminError
    from loadtest.rehearsal.execute import execute, overridden
    from loadtest.rehearsal.local import Endpoints
    from loadtest.rehearsal.run import RunRefused
    from loadtest.rehearsal.scenario_file import ScenarioError, load
    from turnout.embedded_redis import RedisBinaryMissing

    try:
        scenario = overridden(load(Path(args.scenario), short=args.short), args)
        endpoints = None
        if not args.local:
            if not args.gateway or not args.admin:
                raise RunRefused("give --local, or --gateway URL (one per replica) and --admin URL")
            endpoints = Endpoints(
                gateways=args.gateway,
                admin=args.admin,
                token=args.token or os.environ.get("TURNOUT_ADMIN_TOKEN"),
                simulator=args.simulator,
            )
        report = execute(
            scenario,
            Path(args.out),
            local=args.local,
            short=args.short,
            quiet=args.quiet,
            endpoints=endpoints,
        )
    except (ScenarioError, RunRefused, AdminError, ChildFailed, RedisBinaryMissing) as error:
        print(f"turnout loadtest: {error}", file=sys.stderr)
        return 1
    doc = report.doc
    print(f"outcome: {doc['outcome']['final']} (expected {doc['outcome']['expected']})")
    for check in doc["checks"]:
        print(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
    load_ = doc["load"]
    print(
        f"offered {load_['offered_per_s']}/s, achieved {load_['achieved_per_s']}/s, "
        f"lateness p99 {load_['lag_ms']['p99']} ms"
        + (" (the generator fell behind)" if load_["generator_behind"] else "")
    )
    print(f"report: {report.html_path}\njson:   {report.json_path}")
    return 2 if args.check and not doc["ok"] else 0


def add_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    loadtest = commands.add_parser("loadtest", help="rehearse a canary split or rollout under load")
    verbs = loadtest.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("run", help="run a scenario file and write an HTML + JSON report")
    run.add_argument("scenario", help="scenario TOML file (see loadtest/scenarios/)")
    run.add_argument(
        "--local", action="store_true", help="start Redis, simulator, gateways, control"
    )
    run.add_argument(
        "--gateway", action="append", help="a gateway replica's URL (repeat per replica)"
    )
    run.add_argument("--admin", help="admin API URL")
    run.add_argument("--token", help="admin token (default TURNOUT_ADMIN_TOKEN)")
    run.add_argument("--simulator", help="simulator URL, to set per-release behaviour")
    run.add_argument("--short", action="store_true", help="the scenario's [short] form (CI)")
    run.add_argument("--duration", type=float, help="override run.duration_s")
    run.add_argument("--seed", type=int, help="override run.seed")
    run.add_argument("--replicas", type=int, help="override local.replicas")
    run.add_argument("--out", default="rehearsal-report", help="report directory")
    run.add_argument("--check", action="store_true", help="exit 2 when a check fails")
    run.add_argument("--quiet", action="store_true", help="no live progress line")
    run.set_defaults(run=cmd_run)

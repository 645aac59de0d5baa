"""Running one rehearsal end to end and writing its report: the local stack if asked for, the
run, the analysis, the HTML and JSON files. Used by `turnout loadtest run` and by the tests.
"""

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson

from loadtest.rehearsal import html
from loadtest.rehearsal.analysis import analyse
from loadtest.rehearsal.local import Endpoints, LocalStack
from loadtest.rehearsal.run import RunData, RunRefused, rehearse
from loadtest.rehearsal.scenario import Scenario
from loadtest.rehearsal.scenario_file import ScenarioError


@dataclass(frozen=True)
class Report:
    data: RunData
    doc: dict[str, Any]
    html_path: Path
    json_path: Path


def overridden(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    """The scenario with the command line's overrides, checked by the same rules as the file."""
    raw = msgspec.to_builtins(scenario)
    for flag, table, field in (
        ("duration", "run", "duration_s"),
        ("seed", "run", "seed"),
        ("replicas", "local", "replicas"),
    ):
        if getattr(args, flag) is not None:
            raw[table][field] = getattr(args, flag)
    try:
        return msgspec.convert(raw, Scenario)
    except msgspec.ValidationError as error:
        raise ScenarioError(f"command-line override: {error}") from None


def write(doc: dict[str, Any], out_dir: Path, name: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / f"{name}.json", out_dir / f"{name}.html"
    json_path.write_bytes(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    html_path.write_text(html.render(doc))
    return html_path, json_path


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop for this run only (the global policy is left alone), when installed."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def execute(
    scenario: Scenario,
    out_dir: Path,
    *,
    local: bool = True,
    short: bool = False,
    quiet: bool = True,
    endpoints: Endpoints | None = None,
) -> Report:
    """Run one rehearsal (starting the local stack when `local`) and write its report."""
    stack = LocalStack(scenario.local) if local else None
    try:
        if stack is not None:
            endpoints = stack.start()
        if endpoints is None:
            raise RunRefused("give --local, or --gateway and --admin URLs")
        mode = "local" if local else "remote"
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            data = runner.run(rehearse(scenario, endpoints, short=short, mode=mode, quiet=quiet))
    finally:
        if stack is not None:
            stack.stop()
    doc = analyse(data)
    html_path, json_path = write(doc, out_dir, scenario.name)
    return Report(data, doc, html_path, json_path)

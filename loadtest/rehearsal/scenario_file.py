"""Reading a scenario file: TOML decoded into `scenario.Scenario`, with its `[short]` table (a
partial overlay of the same shape, for CI) laid over it when asked. Errors name the file and the
field.
"""

import tomllib
from pathlib import Path
from typing import Any

import msgspec

from loadtest.rehearsal.scenario import Release, Scenario


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file and the field."""


def _overlay(base: dict[str, Any], short: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in short.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


def _convert(raw: dict[str, Any]) -> Scenario:
    """msgspec names a dict entry `[...]`; each release is decoded alone first so the error
    names it (`$.releases.r2.feedback.thumbs_down`)."""
    releases = raw.get("releases")
    if isinstance(releases, dict):
        for release_id, release in releases.items():
            try:
                msgspec.convert(release, Release)
            except msgspec.ValidationError as error:
                text = str(error)
                if "- at `$" in text:
                    text = text.replace("`$", f"`$.releases.{release_id}", 1)
                else:
                    text += f" - at `$.releases.{release_id}`"
                raise msgspec.ValidationError(text) from None
    return msgspec.convert(raw, Scenario)


def parse(text: str, source: str = "<scenario>", *, short: bool = False) -> Scenario:
    """Decode a scenario; with `short`, its `[short]` table is laid over it first."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{source}: not valid TOML: {error}") from None
    overlay = raw.pop("short", None)
    if overlay is not None and not isinstance(overlay, dict):
        raise ScenarioError(f"{source}: [short] must be a table")
    try:
        scenario = _convert(raw)
    except msgspec.ValidationError as error:
        raise ScenarioError(f"{source}: {error}") from None
    if not short:
        return scenario
    if overlay is None:
        raise ScenarioError(f"{source}: --short needs a [short] table in the scenario")
    try:
        return _convert(_overlay(raw, overlay))
    except msgspec.ValidationError as error:
        raise ScenarioError(f"{source}: with its [short] overlay: {error}") from None


def load(path: Path, *, short: bool = False) -> Scenario:
    try:
        text = path.read_text()
    except OSError as error:
        raise ScenarioError(f"cannot read scenario {path}: {error.strerror}") from None
    return parse(text, str(path), short=short)

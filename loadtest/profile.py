"""Sampling the gateway under load with py-spy and ranking where its CPU time goes.

py-spy's raw format is one folded stack per line (`outer;...;leaf count`); self time is the
count of the leaf frame, inclusive time counts a function once per stack it appears in.
"""

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Start-up frames under which everything runs: left out of the inclusive ranking.
_BOOTSTRAP = ("<frozen runpy>", "turnout/cli.py", "gateway/server.py", "aiohttp/web.py")
# A sample whose innermost Python frame is the function running the loop (the gateway's
# `_serve_one`, or aiohttp's run_app) is in the C event loop (uvloop callbacks, syscalls) with no
# Python frame above it.
_LOOP_RUNNERS = ("_serve_one (gateway/server.py", "run_app (aiohttp/web.py")
EVENT_LOOP = "event loop: uvloop and syscalls (C, no Python frame)"


@dataclass(frozen=True)
class Ranked:
    name: str
    samples: int
    share: float  # of all samples


@dataclass(frozen=True)
class Profile:
    samples: int
    self_lines: list[Ranked]
    self_functions: list[Ranked]
    self_files: list[Ranked]
    inclusive_functions: list[Ranked]


def command(pid: int, duration_s: int, output: Path, native: bool = False) -> list[str]:
    """py-spy without pausing the target (`--nonblocking`), so it perturbs the gateway little.

    Native frames (C extensions, uvloop) need the target paused for each sample.
    """
    args = [
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(duration_s),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    return [*args, "--native"] if native else [*args, "--nonblocking"]


def short_file(path: str, root: Path) -> str:
    """A frame's file without this machine's directories (py-spy often shortens it already)."""
    if not path.startswith("/"):
        return path
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    if path.startswith(str(root) + "/"):
        return path[len(str(root)) + 1 :]
    found = re.search(r"/lib/python3\.\d+/(.*)$", path)
    return f"stdlib/{found.group(1)}" if found else Path(path).name


def _frame(raw: str, root: Path) -> tuple[str, str, str]:
    """(function label, line label, file) of one frame."""
    found = _FRAME.match(raw.strip())
    if found is None:
        return raw, raw, raw
    where = short_file(found["file"], root)
    function = f"{found['function']} ({where})"
    line = f"{found['function']} ({where}:{found['line']})" if found["line"] else function
    return function, line, where


def analyse(raw_file: Path, root: Path, top: int = 25) -> Profile:
    lines: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    files: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for entry in raw_file.read_text().splitlines():
        stack, _, count_text = entry.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(raw, root) for raw in stack.split(";")]
        frames = [f for f in frames if not f[0].startswith("process ") and "thread " not in f[0]]
        if not frames:
            continue
        total += count
        leaf_function, leaf_line, leaf_file = frames[-1]
        if leaf_function.startswith(_LOOP_RUNNERS):
            leaf_function = leaf_line = leaf_file = EVENT_LOOP
        functions[leaf_function] += count
        lines[leaf_line] += count
        files[leaf_file] += count
        for function in {f for f, _, where in frames if not where.startswith(_BOOTSTRAP)}:
            inclusive[function] += count

    def ranked(counter: Counter[str]) -> list[Ranked]:
        return [Ranked(name, n, n / total) for name, n in counter.most_common(top)]

    return Profile(total, ranked(lines), ranked(functions), ranked(files), ranked(inclusive))


def markdown(profile: Profile) -> str:
    out = [f"py-spy samples: {profile.samples}", ""]
    for title, rows in (
        ("Self time by line", profile.self_lines),
        ("Self time by function", profile.self_functions),
        ("Self time by file", profile.self_files),
        ("Inclusive time by function", profile.inclusive_functions),
    ):
        out += [f"### {title}", "", "| share | samples | frame |", "|---:|---:|---|"]
        out += [f"| {r.share:.1%} | {r.samples} | `{r.name}` |" for r in rows]
        out.append("")
    return "\n".join(out)

"""The programs the benchmark needs (installed with apt-get when missing and allowed), and a
description of the machine that names no path of it."""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from turnout.embedded_redis import RedisBinaryMissing, find_redis_server

# program -> Debian package
PROGRAMS = {"nginx": "nginx", "wrk": "wrk", "taskset": "util-linux", "py-spy": ""}


class MissingTools(RuntimeError):
    """Reported as one line; the benchmark exits 1."""


def ensure(need_py_spy: bool, may_install: bool) -> None:
    # py-spy comes with the virtualenv: put the interpreter's bin directory on PATH for it.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    wanted = [p for p in PROGRAMS if p != "py-spy" or need_py_spy]
    missing = [program for program in wanted if shutil.which(program) is None]
    packages = sorted({PROGRAMS[p] for p in missing if PROGRAMS[p]})
    if packages and may_install and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"loadtest: installing {' '.join(packages)} with apt-get", file=sys.stderr)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", *packages], check=False
        )
        missing = [program for program in wanted if shutil.which(program) is None]
    if missing:
        hint = " ".join(sorted({PROGRAMS[p] for p in missing if PROGRAMS[p]}))
        advice = f"install them (apt-get install {hint})" if hint else "install them"
        if "py-spy" in missing:
            advice += "; py-spy: pip install py-spy into the virtualenv"
        raise MissingTools(f"missing {', '.join(missing)}: {advice}")
    try:
        find_redis_server()
    except RedisBinaryMissing as error:
        raise MissingTools(str(error)) from None


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "?"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def describe_machine() -> str:
    nginx = _version(["nginx", "-v"]).replace("nginx version: ", "")
    wrk = _version(["wrk", "--version"]).split(" [")[0]
    return (
        f"{os.cpu_count()} CPUs ({_cpu_model()}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, {nginx}, {wrk}"
    )

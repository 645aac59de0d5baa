"""Child processes of the benchmark: pinned start, readiness, CPU time, peak memory, stop.

Linux only (taskset, /proc). Every child runs in its own session so that the benchmark alone
decides when it stops.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ChildFailed(RuntimeError):
    """A child exited or did not become ready; the message names it and quotes its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cpu: int | None, command: list[str]) -> list[str]:
    """`command` started on one CPU only (the affinity is set before exec, so children inherit);
    `None` leaves it to the scheduler."""
    return command if cpu is None else ["taskset", "-c", str(cpu), *command]


class Child:
    """One started process (pid = the pinned command's pid: taskset execs into it)."""

    def __init__(
        self,
        name: str,
        command: list[str],
        cpu: int | None,
        log: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                pinned(cpu, command),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, limit: int = 800) -> str:
        return self.log.read_text(errors="replace")[-limit:].strip() if self.log.exists() else ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ChildFailed(
                f"{self.name} exited with status {self.process.returncode}: {self.log_tail()}"
            )

    def wait_port(self, port: int, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self.check_alive()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise ChildFailed(f"{self.name} did not listen on {port} in time") from None
                time.sleep(0.05)

    def pids(self) -> list[int]:
        """The process and its descendants (nginx: master and workers)."""
        found = [self.pid]
        index = 0
        while index < len(found):
            found.extend(_children(found[index]))
            index += 1
        return found

    def cpu_seconds(self) -> float:
        return sum(_cpu_ticks(pid) for pid in self.pids()) / CLOCK_TICKS

    def peak_rss_kib(self) -> int:
        """Sum of VmHWM (peak resident set) over the process tree."""
        return sum(_status_kib(pid, "VmHWM") for pid in self.pids())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _status_kib(pid: int, field: str) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_times(cpu: int) -> tuple[int, int]:
    """(busy, total) jiffies of one CPU since boot, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]  # idle + iowait
            total = sum(values[:8])  # guest time is already counted in user
            return total - idle, total
    raise ChildFailed(f"cpu{cpu} is not in /proc/stat")

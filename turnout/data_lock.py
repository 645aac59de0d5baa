"""The data dir's lock: one `turnout up` per data dir, so a second one never deletes the first's
Redis socket or writes over its files.

An exclusive `flock` on `<data-dir>/turnout.lock`, held for the process's life (the kernel drops
it when the process exits, even on a crash, so a stale file never blocks a start). The file also
says who holds it (pid and ports), for the error the second process prints.
"""

import fcntl
import os
from pathlib import Path

import msgspec

LOCK_FILE = "turnout.lock"


class Holder(msgspec.Struct, frozen=True):
    """Who holds the lock: written by the holder, read by a process that was refused it."""

    pid: int
    host: str
    port: int  # gateway
    admin_port: int
    sim_port: int | None = None  # only with --demo


class DataDirInUse(RuntimeError):
    """Another process holds the data dir; the message names it (pid, ports)."""


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir.resolve() / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, holder: Holder) -> None:
        """Take the lock and record `holder`, or raise DataDirInUse naming the running one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(self._refusal()) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, msgspec.json.encode(holder) + b"\n", 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays, harmless
            self._fd = None

    def _refusal(self) -> str:
        data_dir = self.path.parent
        try:
            holder = msgspec.json.decode(self.path.read_bytes(), type=Holder)
        except (OSError, msgspec.DecodeError):
            return (
                f"data dir {data_dir} is in use by another turnout process; stop it, or pass "
                "--data-dir (or TURNOUT_DATA_DIR) for a separate instance"
            )
        ports = f"gateway {holder.host}:{holder.port}, admin {holder.admin_port}"
        if holder.sim_port is not None:
            ports += f", simulator {holder.sim_port}"
        return (
            f"data dir {data_dir} is in use by turnout up (pid {holder.pid}; {ports}); stop it, "
            "or pass --data-dir (or TURNOUT_DATA_DIR) for a separate instance"
        )

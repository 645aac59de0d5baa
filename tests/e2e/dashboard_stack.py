"""The dashboard's browser tests' parts: `turnout up --demo` as a real process (gateway, admin
API with its controller, simulator, embedded Redis), a headless Chromium from the system's
packages driven by chromedriver, and blocking helpers to call the APIs and send traffic.

Selenium's calls block, so the servers run in their own process, never on the test's loop.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loadtest.browser import WINDOW, Http
from loadtest.paced import paced
from tests.conftest import ADMIN_TOKENS, free_port


class Stack:
    """`turnout up --demo` on free ports, with one admin token per role."""

    def __init__(self, data_dir: Path) -> None:
        self.gateway_port, self.admin_port, self.sim_port = free_port(), free_port(), free_port()
        tokens = ",".join(f"{n}:{role}:{t}" for role, (n, t) in ADMIN_TOKENS.items())
        env = {**os.environ, "TURNOUT_ADMIN_TOKENS": tokens, "TURNOUT_FLUSH_INTERVAL_S": "0.5"}
        command = [
            sys.executable, "-m", "turnout.cli", "up", "--demo",
            "--port", str(self.gateway_port), "--admin-port", str(self.admin_port),
            "--sim-port", str(self.sim_port), "--data-dir", str(data_dir),
        ]  # fmt: skip
        self.log = (data_dir.parent / "up.log").open("wb")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def ui(self) -> str:
        return f"{self.admin}/ui/"

    def wait_ready(self, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "turnout up exited"
            with contextlib.suppress(OSError):
                status, _, _ = Http.call("GET", f"{self.gateway}/readyz")
                if status == 200 and self.api("GET", "/admin/routes/demo")[0] == 200:
                    return
            time.sleep(0.1)
        raise AssertionError("turnout up did not become ready")

    def api(self, method: str, path: str, body: Any = None, role: str = "admin") -> Any:
        return Http.call(method, f"{self.admin}{path}", body, ADMIN_TOKENS[role][1])[:2]

    def ok(self, method: str, path: str, body: Any = None, role: str = "admin") -> Any:
        status, data = self.api(method, path, body, role)
        assert status in (200, 201), (status, data)
        return data

    def behave(self, model: str, **behaviour: Any) -> None:
        body = {"model": model, "behaviour": behaviour}
        status, _, _ = Http.call("POST", f"http://127.0.0.1:{self.sim_port}/_sim/behaviour", body)
        assert status == 200

    def chat(self, user: str) -> tuple[int, str]:
        body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], "user": user}
        status, _, headers = Http.call("POST", f"{self.gateway}/v1/chat/completions", body)
        return status, headers.get("X-Turnout-Release", "?")

    def split(self, calls: int, prefix: str) -> dict[str, int]:
        """Calls from `calls` distinct sticky users; how many each release served."""
        with ThreadPoolExecutor(8) as pool:
            served = list(pool.map(lambda i: self.chat(f"{prefix}-{i}")[1], range(calls)))
        return {release: served.count(release) for release in set(served)}

    @contextlib.contextmanager
    def traffic(self, rate: float) -> Iterator[None]:
        """Calls at about `rate` per second from a pool of users while the block runs."""
        with paced(rate, lambda number: self.chat(f"load-{number % 500}")):
            yield

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Shots:
    """Screenshots into a temporary folder (and `TURNOUT_UI_SHOTS`, when set, for the docs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        extra = os.environ.get("TURNOUT_UI_SHOTS")
        self.extra = Path(extra) if extra else None
        self.saved: list[Path] = []

    def take(self, driver: Any, name: str, element: str | None = None) -> None:
        """`name`-light.png and `name`-dark.png of the window (or of one element), the theme
        set as the toggle sets it."""
        for theme in ("light", "dark"):
            driver.execute_script("document.documentElement.dataset.theme = arguments[0]", theme)
            path = self.folder / f"{name}-{theme}.png"
            if element is None:
                driver.save_screenshot(str(path))
            else:
                from selenium.webdriver.common.by import By

                # the whole element, however tall: a window as tall as the page for the shot
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(WINDOW[0], max(WINDOW[1], min(int(height), 3000)))
                driver.execute_script("window.scrollTo(0, 0)")
                driver.find_element(By.CSS_SELECTOR, element).screenshot(str(path))
                driver.set_window_size(*WINDOW)
            self.saved.append(path)
            if self.extra is not None:
                self.extra.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, self.extra / path.name)
        driver.execute_script("delete document.documentElement.dataset.theme")


def until(predicate: Callable[[], Any], timeout_s: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout_s} s")
        time.sleep(0.05)


def fresh_profile() -> Path:
    return Path(tempfile.mkdtemp(prefix="turnout-chromium-"))

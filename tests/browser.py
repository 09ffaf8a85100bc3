"""A real `bedcast serve` on a trained demo model, and headless Chromium to look at its pages.

Shared by the browser tests (tests/test_web.py) and the page benchmark (benchmarks/web.py). The browser is
Debian's `chromium` driven through its `chromedriver` (selenium with the system driver: nothing is downloaded).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
KEY = "web-test-key"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)


def find(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def browser_missing() -> str | None:
    """Why no browser can run here, or None."""
    if find(CHROMIUM) is None or find(DRIVER) is None:
        return "headless Chromium is needed: apt-get install -y chromium chromium-driver (.ci/run does it)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is needed: pip install -e '.[dev]'"
    return None


def train_demo(folder: Path, start: str = "2023-01-01", end: str = "2024-12-31") -> None:
    """A champion of the demo hospital (all six units) in the MLflow store of `folder`.

    Trained in a child process, as `bedcast train` would be: MLflow's tracking address is process-wide, so an
    earlier test's setting in this process cannot send the model to another store.
    """
    from forecast.demo import generate_demo_hospital

    hospital = generate_demo_hospital(start=start, end=end)
    hospital.episodes.to_csv(folder / "episodes.csv", index=False)
    hospital.units.to_csv(folder / "units.csv", index=False)
    command = [sys.executable, "-m", "training.train", "--data", "episodes.csv", "--units", "units.csv"]
    command += ["--models", "seasonal_naive,ets", "--folds", "2", "--horizon", "28", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode:
        raise RuntimeError(f"training the demo failed: {(done.stdout + done.stderr)[-3000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    """A running `bedcast serve`."""

    base: str
    process: subprocess.Popen

    def get(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body of a GET (errors too)."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=30) as response:
                return response.status, response.headers.get("content-type", ""), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("content-type", ""), error.read()

    def json(self, path: str) -> Any:
        status, _, body = self.get(path)
        assert status == 200, (path, status, body[:500])
        return json.loads(body)


@contextmanager
def serve(folder: Path, timeout: float = 120) -> Iterator[Service]:
    """`bedcast serve` on a free loopback port, serving the champion in `folder`'s MLflow store."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "BEDCAST_EPISODES_URL": f"sqlite:///{folder / 'episodes.db'}",
        "BEDCAST_API_KEY": KEY,
    }
    command = [sys.executable, "-m", "forecast.cli", "serve", "--host", HOST, "--port", str(port), "--no-access-log"]
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    service = Service(f"http://{HOST}:{port}", process)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bedcast serve exited: {(folder / 'serve.log').read_text()[-3000:]}")
            try:
                if service.get("/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                log_text = (folder / "serve.log").read_text()[-3000:]
                raise RuntimeError(f"bedcast serve not ready in {timeout} s: {log_text}")
            time.sleep(0.2)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def chromium(width: int = 1280, height: int = 900, downloads: Path | None = None) -> Any:
    """Headless Chromium through the system chromedriver, logging the console and every network request.

    Host names other than the loopback's resolve to nowhere, so a page that tried to reach the internet would
    fail loudly (and the test sees the request in the log) instead of working here and failing on an intranet.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = find(CHROMIUM) or ""
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    if downloads is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    return webdriver.Chrome(service=DriverService(find(DRIVER) or ""), options=options)


def console_errors(driver: Any) -> list[str]:
    """The console's errors and warnings since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def requested_hosts(driver: Any) -> set[str]:
    """Host and port of every request the browser sent since the last call (from its network log)."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(("data:", "blob:", "about:")):
                hosts.add(urlsplit(url).netloc)
    return hosts


def wait_drawn(driver: Any, timeout: float = 15) -> float:
    """Wait until the page has loaded; its own timing of that (ms from navigation start to the load event end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return document.readyState === 'complete' && n && n.loadEventEnd > 0 ? n.loadEventEnd : null;"
        )
        if done:
            return float(done)
        time.sleep(0.02)
    raise TimeoutError(f"{driver.current_url} did not finish loading in {timeout} s")


def emulate(driver: Any, width: int, height: int, mobile: bool) -> None:
    """Lay the page out as a screen of `width` × `height` CSS pixels (a phone: mobile viewport rules)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def screenshot(driver: Any, path: Path, width: int, mobile: bool) -> None:
    """The whole page at `width` CSS pixels as a PNG."""
    emulate(driver, width, 900, mobile)
    full = int(driver.execute_script("return document.documentElement.scrollHeight"))
    emulate(driver, width, min(full, 12000), mobile)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    emulate(driver, width, 900, mobile)


def wait_replaced(driver, old, timeout: float = 30) -> None:
    """Wait until the page `old` (an element of it) belonged to has been replaced by the next one.

    Selenium's `staleness_of` expects a stale-element error; while the old document is being torn down ChromeDriver
    may instead answer "Node with given id does not belong to the document", which says the same."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def replaced(_driver) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    WebDriverWait(driver, timeout).until(replaced)

"""Fixtures of the dashboard's browser tests: a demo store, the app serving it, headless Chromium.

Each is slow to start, so each is built once: the demo story (``mlflow-monitor demo``, a real
store with one version that ends critical, ~30 s; once per session, read only), and per module
``mlflow-monitor ui`` on a free port of 127.0.0.1 over that store (killed in teardown) and
Debian's Chromium driven by selenium through Debian's chromedriver. Nothing is downloaded: the
driver and browser are named by path, so selenium-manager is never asked. A missing browser or
driver fails the test with the install line; it is never a skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MONITOR = Path(sys.executable).parent / "mlflow-monitor"
DEMO_MODEL = "churn-classifier"
DEMO_VERSION = "1"
_START_SECONDS = 90.0  # the app imports MLflow and opens the store before it answers


@dataclass(frozen=True)
class DemoStore:
    """The demo's folder and its SQLite tracking URI."""

    folder: Path
    tracking_uri: str


@dataclass(frozen=True)
class App:
    """The dashboard app serving a store: its base URL (``http://127.0.0.1:<port>``)."""

    base: str
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return self.base + path


def _environment() -> dict[str, str]:
    """The test's environment without a tracking URI of its own: the store is named explicitly."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """The demo story in a fresh folder: churn-classifier v1, windows healthy, warning, critical.

    One per session, shared by every module under ``tests/ui/``: the dashboard only reads it.
    """
    folder = tmp_path_factory.mktemp("ui-demo")
    done = subprocess.run(
        [str(MONITOR), "demo", "--dir", str(folder)],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"mlflow-monitor demo failed:\n{done.stderr[-3000:]}"
    return DemoStore(folder, f"sqlite:///{folder / 'mlflow.db'}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(tracking_uri: str, log: Path) -> App:
    """``mlflow-monitor ui`` over ``tracking_uri``, returned once it answers (else it is killed)."""
    port = free_port()
    command = [str(MONITOR), "ui", "--tracking-uri", tracking_uri]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=_environment(), stdout=out, stderr=out)
    app = App(f"http://127.0.0.1:{port}", process)
    try:
        _wait_until_answering(app, log)
    except BaseException:
        stop_app(app)
        raise
    return app


def _wait_until_answering(app: App, log: Path) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            code = app.process.returncode
            raise AssertionError(f"mlflow-monitor ui exited with {code}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(app.url("/monitor/api/fleet"), timeout=30) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    seconds = f"{_START_SECONDS:.0f} s"
    raise AssertionError(f"mlflow-monitor ui did not answer within {seconds}:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def stop_app(app: App) -> None:
    """End the app's process (terminate, then kill) and reap it."""
    if app.process.poll() is None:
        app.process.terminate()
        try:
            app.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.process.kill()
            app.process.wait(timeout=10)


@pytest.fixture(scope="module")
def app(demo_store: DemoStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The dashboard over the demo store, on a free port of 127.0.0.1."""
    log = tmp_path_factory.mktemp("ui-app") / "ui.log"
    running = start_app(demo_store.tracking_uri, log)
    yield running
    stop_app(running)


def require_browser() -> None:
    """Fail (never skip) with the install line when Debian's Chromium or its driver is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"the dashboard's browser tests need {' and '.join(missing)}: install them with "
            "`apt-get install chromium chromium-driver` (scripts/test.sh does, as root)",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    """Headless Chromium (selenium ``WebDriver``) that records the console, 1280x900."""
    require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root (CI does)
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-background-networking",  # no update or safe-browsing requests of its own
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()

"""Screenshots of the dashboard for the README: a small fleet, each page in headless Chromium.

Builds an MLflow store (SQLite, in a temporary folder unless ``--store`` names one to keep or
reuse) with four churn models watched over the last weeks through the Python API, so the fleet
page has something to tell: ``churn-classifier`` v1 goes healthy, warning (drift), critical
(the churn mechanism changed), its retrained v2 is healthy and takes ``@champion`` while the
gate refuses v1; ``churn-classifier-eu`` stays healthy; ``retention-scorer`` drifts (warning);
``upsell-propensity`` decays (critical). Alerts go to an HTTP sink on 127.0.0.1, so they are
really sent. Then ``mlflow-monitor ui`` serves the store on a free port and Debian's Chromium
(selenium + chromedriver, nothing downloaded) saves each page to ``docs/screenshots/<page>.png``,
1280 wide and as tall as the page, at least 900 and at most 2000 (the first screens).

    .venv/bin/python scripts/screenshots.py                      # ~2-3 min on 2 cores
    .venv/bin/python scripts/screenshots.py --store /tmp/fleet   # keep (or reuse) the store
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import mlflow_monitor as mm
from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
from mlflow_monitor.datasets import churn
from mlflow_monitor.workflows.demo import write_demo_spec

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "screenshots"
MONITOR = Path(sys.executable).parent / "mlflow-monitor"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH, MIN_HEIGHT, MAX_HEIGHT = 1280, 900, 2000  # the first screens of a long page
WEEK = timedelta(days=7)
DRIFTED, DEGRADED = 0.7, 0.85


@dataclass(frozen=True)
class Window:
    """One week of data: weeks after the reference week, input drift, changed churn mechanism."""

    week: int
    drift: float = 0.0
    decay: float = 0.0


@dataclass(frozen=True)
class Story:
    """One registered version: trained on the changed mechanism or not, and its windows."""

    model: str
    retrained: bool
    windows: tuple[Window, ...]


STORIES = (
    Story("churn-classifier", False, (Window(1), Window(2, DRIFTED), Window(3, decay=DEGRADED))),
    Story("churn-classifier", True, (Window(4, decay=DEGRADED), Window(5, decay=DEGRADED))),
    Story("churn-classifier-eu", False, (Window(3), Window(4), Window(5))),
    Story("retention-scorer", False, (Window(4), Window(5, DRIFTED))),
    Story("upsell-propensity", False, (Window(4), Window(5, decay=DEGRADED))),
)
PROMOTIONS = (("churn-classifier", "1"), ("churn-classifier", "2"), ("churn-classifier-eu", "1"))
PAGES = {
    "fleet": "/monitor/",
    "version": "/monitor/models/churn-classifier/versions/1",
    "model": "/monitor/models/churn-classifier",
    "alerts": "/monitor/alerts",
    "gates": "/monitor/gates",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="folder of the store to build, or reuse")
    parser.add_argument("--rows", type=int, default=4000, help="rows per window")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNG files")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        folder = (args.store or Path(tmp)).resolve()
        if not (folder / "mlflow.db").exists():
            folder.mkdir(parents=True, exist_ok=True)
            build_store(folder, rows=args.rows)
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        with dashboard(uri, folder / "ui.log") as base:
            shoot(base, args.out)
    return 0


def say(text: str) -> None:
    print(f"[screenshots] {text}", file=sys.stderr, flush=True)


# -- the store ---------------------------------------------------------------------------------


def build_store(folder: Path, *, rows: int) -> None:
    """The fleet story in ``folder/mlflow.db`` (see the module docstring)."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    start = first_week()
    say(f"building {uri}, weeks from {start:%Y-%m-%d}")
    trained = {flag: train(start, retrained=flag) for flag in (False, True)}
    with alert_sink() as channel:
        for number, story in enumerate(STORIES):
            spec = write_spec(folder / "specs" / story.model / "monitor.yaml", story, channel)
            model = trained[story.retrained]
            decay = DEGRADED if story.retrained else 0.0
            reference = churn.score(
                model, churn.make_churn(5000, seed=2 + number, decay=decay, start=start)
            )
            version = register_sklearn_model(
                model,
                story.model,
                tracking_uri=uri,
                example=reference[churn.NUMERICAL + churn.CATEGORICAL].head(5),
                artifact_root=folder / "mlartifacts",
            )
            mm.attach_baseline(spec=spec, version=version, reference=reference, tracking_uri=uri)
            for window in story.windows:
                begins = start + window.week * WEEK
                frame = churn.make_churn(
                    rows,
                    seed=100 * (number + 1) + window.week - 1,
                    drift=window.drift,
                    decay=window.decay,
                    start=begins,
                )
                run = mm.monitor(
                    spec=spec,
                    version=version,
                    current=churn.score(model, frame),
                    window_start=begins,
                    window_end=begins + WEEK,
                    tracking_uri=uri,
                )
                say(f"{story.model} v{version} {begins:%Y-%m-%d}: {run.health}")
    promote(uri)


def first_week() -> datetime:
    """The reference week: six weeks before this Monday, so the last window ends this Monday."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday()) - 6 * WEEK


def train(start: datetime, *, retrained: bool) -> object:
    """The churn model on the old mechanism, or retrained after the mechanism changed."""
    frame = churn.make_churn(
        8000,
        seed=7 if retrained else 1,
        decay=DEGRADED if retrained else 0.0,
        start=start - 3 * WEEK,
        days=21,
    )
    return churn.train_churn_model(frame)


def write_spec(path: Path, story: Story, channel: str) -> Path:
    """The demo's ``monitor.yaml`` for the story's model, the alert sink its one channel."""
    write_demo_spec(path, story.model)
    with path.open("a") as spec:
        spec.write(f"alerts:\n  channels:\n    - {{url: '{channel}', name: on-call}}\n")
    return path


def promote(uri: str) -> None:
    for model, version in PROMOTIONS:
        try:
            mm.promote(model=model, version=version, alias="champion", tracking_uri=uri)
            say(f"{model} v{version} -> @champion")
        except mm.GateRefused as refused:
            say(f"{model} v{version} -> @champion refused: {refused}")


class _Sink(BaseHTTPRequestHandler):
    """Accepts apprise's ``json://`` deliveries."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def alert_sink() -> Iterator[str]:
    """An HTTP receiver on 127.0.0.1 for the alerts; yields its apprise URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/on-call"
    finally:
        server.shutdown()
        server.server_close()


# -- the pages ---------------------------------------------------------------------------------


@contextmanager
def dashboard(uri: str, log: Path) -> Iterator[str]:
    """``mlflow-monitor ui`` over ``uri`` on a free port; yields its base URL, then stops it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [str(MONITOR), "ui", "--tracking-uri", uri, "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen([*command, "--port", str(port)], stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/monitor/api/fleet", process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"mlflow-monitor ui exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=60):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SystemExit(f"mlflow-monitor ui did not answer at {url}")


def shoot(base: str, out: Path) -> None:
    """Each page to ``out/<page>.png``, once its Plotly charts are drawn."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{MIN_HEIGHT}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    out.mkdir(parents=True, exist_ok=True)
    drawn = (
        "return document.readyState === 'complete' && Array.from("
        "document.querySelectorAll('.js-plotly-plot')).every(p => p.data !== undefined);"
    )
    try:
        for name, path in PAGES.items():
            size(driver, MIN_HEIGHT)
            driver.get(base + path)
            WebDriverWait(driver, 60).until(lambda d: d.execute_script(drawn))
            time.sleep(0.5)  # Plotly's transitions
            height = int(driver.execute_script("return document.documentElement.scrollHeight;"))
            size(driver, max(MIN_HEIGHT, min(height, MAX_HEIGHT)))
            time.sleep(0.3)
            driver.save_screenshot(str(out / f"{name}.png"))
            say(f"{out / f'{name}.png'} (page {height} px high)")
    finally:
        driver.quit()


def size(driver: Any, height: int) -> None:
    """The viewport, exactly: the screenshot is ``WIDTH`` x ``height`` pixels."""
    metrics = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


if __name__ == "__main__":
    sys.exit(main())

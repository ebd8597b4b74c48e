"""The dashboard's fleet page over 100 monitored versions, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/bench_dashboard.py [--models 20 --versions 5 --windows 4]
        [--stores sqlite,postgres] [--requests 50] [--template DEMO_DIR] [--out results.json]

Setup, not timed:

1. Templates from one real demo story (``mlflow-monitor demo`` in a temporary folder, ~30 s;
   ``--template`` reuses a demo folder): its three window runs' ``results.json`` (healthy,
   warning, critical), ``alerts.json`` and the names of every file they logged.
2. For each store (SQLite in a temporary folder; a database ``bench_dash_<pid>`` created on
   PostgreSQL at 127.0.0.1:5432 from database ``test`` and dropped afterwards), ``--models`` x
   ``--versions`` registered versions, each with a baseline run and ``--windows`` weekly window
   runs written as ``mlflow-monitor run`` leaves them, through the package's own adapter
   (``MonitorRuns``): run tags (kind, model, version, window, host, pid; then health, window,
   top finding), every metric of ``results.json`` stamped with the window end, the artifacts
   (``results.json`` and ``alerts.json`` rewritten for the version and window, the notebooks,
   reports and the other files under their real names: small stand-ins, since no page of the
   benchmark reads them), then ``workflows.version_state.settle_version`` writes the version's
   tags exactly as a run does. Real runs would take ~10 s a window (400 windows: over an hour).
   Every version's older windows are healthy; the latest is critical for one version in ten
   (the window before it warning), warning for one in four, else healthy.

Timed, per store, against ``mlflow-monitor ui --tracking-uri <store>`` started afresh (its
readiness is polled with TCP connects, so no page is read before the cold load):

- the fleet page ``/monitor/``: the first load (cold: imports done, nothing cached), then
  ``--requests`` requests one after the other (warm); then ``--refresh`` requests each made just
  after the app's fleet cache expired (``FLEET_TTL_SECONDS``): the registry read of a warm
  process, what one person in ten seconds pays;
- a critical version's page (its trend charts): the first load, then ``--version-requests``.

Each time is the client's, from sending the request to the last byte of the response, over HTTP
on 127.0.0.1; the app's ``Server-Timing`` header is reported beside it when the app sets one.
Prints a table (p50 / p95 / max) and the load average before and after; goal: the fleet page's
warm p95 <= 1 s on both stores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import (
    ALERTS_FILE,
    KIND_BASELINE,
    KIND_WINDOW,
    RESULTS_FILE,
    TAG_BASELINE_RUN,
    TAG_HEALTH,
    TAG_TOP_FINDING,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
    TOP_FINDING_CHARS,
    WindowResults,
    experiment_name,
    parse_utc,
    utc_text,
)
from mlflow_monitor.workflows.version_state import settle_version

MONITOR = Path(sys.executable).parent / "mlflow-monitor"
DEMO_MODEL = "churn-classifier"
FIRST_WINDOW = datetime(2026, 9, 7, tzinfo=timezone.utc)
WEEK = timedelta(days=7)
GOAL_SECONDS = 1.0


@dataclass(frozen=True)
class Template:
    """One real window run of the demo: its results, alerts and the files it logged."""

    health: str
    results: dict[str, Any]
    alerts: dict[str, Any]
    files: tuple[str, ...]


@dataclass
class Timings:
    """Client times (seconds) of one page's requests and the app's Server-Timing (ms)."""

    seconds: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)

    def add(self, seconds: float, server_ms: float | None) -> None:
        self.seconds.append(seconds)
        if server_ms is not None:
            self.server_ms.append(server_ms)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "n": len(self.seconds),
            "p50_ms": _ms(percentile(self.seconds, 50)),
            "p95_ms": _ms(percentile(self.seconds, 95)),
            "max_ms": _ms(max(self.seconds, default=None)),
            "server_p50_ms": percentile(self.server_ms, 50),
            "server_p95_ms": percentile(self.server_ms, 95),
        }


def main() -> int:
    args = parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "fleet": f"{args.models} models x {args.versions} versions x {args.windows} windows",
        "load_before": load_before,
        "stores": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        work = Path(tmp)
        templates = read_templates(args.template or demo_store(work / "demo"))
        for kind in args.stores:
            with store(kind, work / kind) as uri:
                started = time.perf_counter()
                populate(uri, work / kind / "artifacts", templates, args)
                built = time.perf_counter() - started
                say(f"{kind}: {args.models * args.versions} versions written in {built:.0f} s")
                report["stores"][kind] = {"setup_s": round(built, 1), **time_app(uri, work, args)}
    report["load_after"] = os.getloadavg()
    print_table(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--versions", type=int, default=5, help="versions per model")
    parser.add_argument("--windows", type=int, default=4, help="window runs per version")
    parser.add_argument("--stores", type=lambda s: s.split(","), default=["sqlite", "postgres"])
    parser.add_argument("--requests", type=int, default=50, help="warm fleet requests")
    parser.add_argument("--refresh", type=int, default=3, help="requests after the cache expired")
    parser.add_argument("--version-requests", type=int, default=20, help="warm version requests")
    parser.add_argument("--template", type=Path, help="a demo folder (mlflow-monitor demo --dir)")
    parser.add_argument("--out", type=Path, help="also write the numbers here as JSON")
    return parser.parse_args()


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# -- templates from one real demo ---------------------------------------------------------------


def demo_store(folder: Path) -> Path:
    say("running the demo once for real window runs to copy (~30 s)")
    subprocess.run(
        [str(MONITOR), "demo", "--dir", str(folder)], check=True, capture_output=True, text=True
    )
    return folder


def read_templates(folder: Path) -> dict[str, Template]:
    """The demo's window runs by health: results, alerts, and the paths of the files logged."""
    uri = f"sqlite:///{folder.resolve() / 'mlflow.db'}"
    runs, client = MonitorRuns(uri), MlflowClient(uri)
    found: dict[str, Template] = {}
    for attempt in runs.window_attempts(DEMO_MODEL, "1"):
        results = runs.read_json(attempt.run_id, RESULTS_FILE)
        alerts = runs.read_json(attempt.run_id, ALERTS_FILE) or {}
        assert isinstance(results, dict) and isinstance(alerts, dict)
        files = tuple(sorted(_files(client, attempt.run_id, "")))
        found[str(results["health"])] = Template(str(results["health"]), results, alerts, files)
    assert set(found) == {"healthy", "warning", "critical"}, f"demo windows: {sorted(found)}"
    return found


def _files(client: MlflowClient, run_id: str, path: str) -> Iterator[str]:
    for entry in client.list_artifacts(run_id, path or None):
        if entry.is_dir:
            yield from _files(client, run_id, entry.path)
        else:
            yield entry.path


# -- the stores ---------------------------------------------------------------------------------


@contextmanager
def store(kind: str, folder: Path) -> Iterator[str]:
    """A fresh, empty tracking store of ``kind``; a PostgreSQL database is dropped afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'mlflow.db'}"
        return
    if kind != "postgres":
        raise SystemExit(f"--stores: {kind!r} is neither sqlite nor postgres")
    import psycopg2

    admin = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=_pg_user())
    admin.autocommit = True
    name = f"bench_dash_{os.getpid()}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{admin.info.user}@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _pg_user() -> str:
    import psycopg2

    for user in ("postgres", "root"):
        try:
            psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=user).close()
            return user
        except psycopg2.OperationalError:
            continue
    raise SystemExit("PostgreSQL at 127.0.0.1:5432 (database test) not reachable")


def populate(uri: str, artifacts: Path, templates: dict[str, Template], args: Any) -> None:
    """``args.models`` x ``args.versions`` monitored versions, as ``run`` leaves them."""
    client, runs = MlflowClient(uri), MonitorRuns(uri)
    stand_ins = artifacts / "_stand_ins"
    for m in range(args.models):
        model = f"model-{m:02d}"
        location = (artifacts / model).as_uri()
        client.create_experiment(experiment_name(model), artifact_location=location)
        client.create_registered_model(model)
        for v in range(1, args.versions + 1):
            version = str(client.create_model_version(model, f"{location}/model").version)
            baseline = runs.start_run(
                model, version, kind=KIND_BASELINE, run_name="baseline", tags={}
            )
            runs.end_run(baseline, "FINISHED")
            runs.set_version_tags(model, version, {TAG_BASELINE_RUN: baseline})
            plan = health_plan(m * args.versions + v, args.windows)
            for w, health in enumerate(plan):
                start = FIRST_WINDOW + (w + v) * WEEK
                log_window(runs, templates[health], model, version, start, stand_ins)
            settle_version(runs, model, version)


def health_plan(index: int, windows: int) -> list[str]:
    """Older windows healthy; the latest critical (1 in 10, after a warning), warning (1 in 4)."""
    plan = ["healthy"] * windows
    if index % 10 == 0:
        plan[-2:] = ["warning", "critical"][-windows:]
    elif index % 4 == 1:
        plan[-1] = "warning"
    return plan


def log_window(
    runs: MonitorRuns, template: Template, model: str, version: str, start: datetime, tmp: Path
) -> None:
    """One window run, tagged, logged and ended as ``monitor_window.run_window`` does."""
    window_start, window_end = utc_text(start), utc_text(start + WEEK)
    run_id = runs.start_run(
        model,
        version,
        kind=KIND_WINDOW,
        run_name=f"window v{version} {window_end}",
        tags={TAG_WINDOW_START: window_start, TAG_WINDOW_END: window_end},
    )
    body = {
        **template.results,
        "model": model,
        "model_version": version,
        "window_start": window_start,
        "window_end": window_end,
    }
    results = WindowResults.from_dict(body)
    runs.log_metrics(run_id, results.metrics, int(parse_utc(window_end).timestamp() * 1000))
    alerts = {**template.alerts, "model": model, "version": version, "run_id": run_id}
    alerts["window"] = f"{window_start}/{window_end}"
    folder = stage_files(tmp / run_id, template, body, alerts)
    runs.log_artifacts(run_id, folder)
    shutil.rmtree(folder)
    found = results.findings
    top = f"{found[0].check_id}: {found[0].message}"[:TOP_FINDING_CHARS] if found else ""
    runs.set_run_tags(
        run_id,
        {
            TAG_HEALTH: results.health,
            TAG_WINDOW_END: window_end,
            TAG_TOP_FINDING: top,
            TAG_WINDOW_START: window_start,
        },
    )
    runs.end_run(run_id, "FINISHED")


def stage_files(
    folder: Path, template: Template, results: dict[str, Any], alerts: dict[str, Any]
) -> Path:
    """The run's files: the real results and alerts, small stand-ins under the other names."""
    for name in template.files:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == RESULTS_FILE:
            path.write_text(json.dumps(results))
        elif name == ALERTS_FILE:
            path.write_text(json.dumps(alerts))
        elif name.endswith(".ipynb"):
            path.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        else:
            path.write_text("stand-in\n")
    return folder


# -- timing ------------------------------------------------------------------------------------


def time_app(uri: str, work: Path, args: Any) -> dict[str, Any]:
    """Start the app over ``uri`` and time its fleet page and a critical version's page."""
    with app(uri, work / "ui.log") as base:
        fleet, refreshed, page = Timings(), Timings(), Timings()
        cold = get(base + "/monitor/")
        fleet_json = json.loads(get_body(base + "/monitor/api/fleet"))
        for _ in range(args.requests):
            fleet.add(*get(base + "/monitor/"))
        ttl = fleet_ttl()
        for _ in range(args.refresh):
            time.sleep(ttl + 0.5)
            refreshed.add(*get(base + "/monitor/"))
        model, version = critical_version(fleet_json)
        path = f"/monitor/models/{model}/versions/{version}"
        page_cold = get(base + path)
        for _ in range(args.version_requests):
            page.add(*get(base + path))
    return {
        "fleet_rows": len(_rows(fleet_json)),
        "fleet_cold_ms": _ms(cold[0]),
        "fleet_cold_server_ms": cold[1],
        "fleet_warm": fleet.summary(),
        "fleet_after_ttl": refreshed.summary(),
        "version_page": path,
        "version_cold_ms": _ms(page_cold[0]),
        "version_warm": page.summary(),
    }


@contextmanager
def app(uri: str, log: Path) -> Iterator[str]:
    """``mlflow-monitor ui`` on a free port, ready when its port accepts connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [str(MONITOR), "ui", "--tracking-uri", uri, "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen([*command, "--port", str(port)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"mlflow-monitor ui did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def get(url: str) -> tuple[float, float | None]:
    """Client seconds to the last byte, and the app's Server-Timing total (ms) if it sets one."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as response:
        response.read()
        header = response.headers.get("Server-Timing")
    return time.perf_counter() - started, server_timing(header)


def get_body(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=300) as response:
        body: bytes = response.read()
    return body


def server_timing(header: str | None) -> float | None:
    """The ``total`` entry's duration, else the sum of every ``dur`` (None: no header)."""
    if not header:
        return None
    entries = {
        part.split(";")[0].strip(): float(m.group(1))
        for part in header.split(",")
        if (m := re.search(r"dur=([0-9.]+)", part))
    }
    return entries.get("total", sum(entries.values())) if entries else None


def fleet_ttl() -> float:
    try:
        from mlflow_monitor.ui.state import FLEET_TTL_SECONDS
    except ImportError:
        return 10.0
    return float(FLEET_TTL_SECONDS)


def _rows(fleet: Any) -> list[dict[str, Any]]:
    """The rows of ``/monitor/api/fleet`` (``{"tracking_uri": ..., "rows": [...]}``)."""
    rows: list[dict[str, Any]] = fleet["rows"]
    return rows


def critical_version(fleet: Any) -> tuple[str, str]:
    row = next(r for r in _rows(fleet) if r.get("health") == "critical")
    return str(row["model"]), str(row["version"])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def print_table(report: dict[str, Any]) -> None:
    print(f"\n{report['when']}; {report['machine']}; {report['fleet']}")
    print(
        f"load average before {_load(report['load_before'])}, after {_load(report['load_after'])}"
    )
    head = "| store | page | requests | cold | p50 | p95 | max | Server-Timing p50 / p95 |"
    print(head)
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for kind, r in report["stores"].items():
        rows = (
            ("fleet, warm", r["fleet_warm"], r["fleet_cold_ms"]),
            ("fleet, cache expired", r["fleet_after_ttl"], None),
            ("version page, warm", r["version_warm"], r["version_cold_ms"]),
        )
        for name, s, cold in rows:
            server = f"{_num(s['server_p50_ms'])} / {_num(s['server_p95_ms'])}"
            print(
                f"| {kind} | {name} | {s['n']} | {_num(cold)} | {_num(s['p50_ms'])} | "
                f"{_num(s['p95_ms'])} | {_num(s['max_ms'])} | {server} |"
            )
    for kind, r in report["stores"].items():
        p95 = r["fleet_warm"]["p95_ms"] / 1000
        verdict = "meets" if p95 <= GOAL_SECONDS else "MISSES"
        print(
            f"{kind}: fleet warm p95 {p95:.3f} s {verdict} the goal (<= {GOAL_SECONDS:.0f} s); "
            f"{r['fleet_rows']} rows; setup {r['setup_s']} s"
        )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    sys.exit(main())

"""Fleet example: a dozen churn models on an ``mlflow server`` backed by PostgreSQL.

Run from the repository root (PostgreSQL at 127.0.0.1:5432 with trust auth):

    .venv/bin/python examples/fleet/run.py [--dir fleet-mlflow] [--models 12] [--rows 2000] \\
        [--days 3] [--postgres-db NAME] [--serve] [--keep]

The day of a platform team that runs many models: a fresh PostgreSQL database behind
``mlflow server`` (artifacts proxied into ``--dir/mlartifacts``); ``--models`` churn models
(``churn-eu``, ``churn-us``...; some with a second version) whose ``@champion`` has a baseline;
a prediction log holding ``--days`` past days and the latest complete day of each model's scored,
labelled traffic, some of it drifted or decayed; a spec per model with SLOs (an AUC floor,
freshness, fairness) and alerts to two local receivers (on-call at once, the team lead when a
critical finding stays unacknowledged for 30 minutes). Then the commands a team schedules:
``mlflow-monitor fleet run`` over past days (a fleet file of day exports, so the SLOs have
windows), ``fleet run fleet.yaml`` for the latest complete day (the summary table),
``slo report`` for one model and ``alerts escalate`` half an hour "later". It prints what each
receiver got, and the dashboard command (``--serve`` starts it). On exit the server stops and
the database is dropped, unless ``--keep``.

Only the public API: ``mlflow_monitor.datasets``, MLflow's own API, the ``mlflow`` and
``mlflow-monitor`` executables, and the prediction log's store (``open_log``): a serving
process writes the log through the capture recorder, which stamps each row with the time it was
served; a replay of past days needs the store's ``append``, which keeps the rows' own times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlflow_monitor import datasets
from mlflow_monitor.adapters.prediction_log import open_log

BIN = Path(sys.executable).parent
DAY = timedelta(days=1)
GRACE = timedelta(hours=1)
REGIONS = ["eu", "us", "uk", "de", "fr", "jp", "br", "in", "ca", "au", "mx", "za"]
# the one class of the churn pipeline skops does not trust by default (gradient-boosted trees)
TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"

SLOS_AND_ALERTS = """\
slos:
  - name: auc-floor
    objective: check
    metric: perf/roc_auc
    min: 0.75
    target: 0.9
    period: 7d
    description: the champion ranks churners well on labelled days
  - name: freshness
    objective: freshness
    max_gap: 26h
    target: 0.95
    period: 7d
  - name: fairness
    objective: policies
    target: 0.9
    period: 7d
alerts:
  cooldown: 24h
  channels:
    - {{name: oncall, url: "json://127.0.0.1:{oncall}/oncall", min_severity: warning}}
    - {{name: lead, url: "json://127.0.0.1:{lead}/lead", min_severity: critical}}
  escalation:
    critical:
      - {{after: 0m, channels: [oncall]}}
      - {{after: 30m, channels: [lead]}}
"""


@dataclass(frozen=True)
class Plan:
    """One model of the fleet and the data it will see: ``drift`` moves its inputs every day,
    ``decay`` changes the churn mechanism for its last ``decay_days`` days."""

    name: str
    drift: float
    decay: float
    decay_days: int
    versions: int
    expected: str
    seed: int


def fleet_plans(count: int) -> list[Plan]:
    """Mixed health by design, in a repeating pattern: healthy, warning (inputs drifted),
    critical (decayed for the last two days), healthy; every third model has two versions."""
    kinds = [
        (0.0, 0.0, "healthy"),
        (0.7, 0.0, "warning"),
        (0.0, 0.85, "critical"),
        (0.0, 0.0, "healthy"),
    ]
    plans = []
    for i in range(count):
        drift, decay, expected = kinds[i % len(kinds)]
        name = f"churn-{REGIONS[i]}" if i < len(REGIONS) else f"churn-{i:02d}"
        plans.append(Plan(name, drift, decay, 2, 2 if i % 3 == 1 else 1, expected, 1000 * (i + 1)))
    return plans


STARTED = time.monotonic()


def step(text: str) -> None:
    print(f"\n== {text}  [{time.monotonic() - STARTED:.0f} s]", flush=True)


def utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- PostgreSQL ----------------------------------------------------------------------------------


def admin_connection() -> Any:
    """A connection to the server's maintenance database (``test`` or ``postgres``), autocommit."""
    import psycopg2

    last: Exception | None = None
    for dbname in ("test", "postgres"):
        for user in (os.environ.get("USER") or "postgres", "postgres", "root"):
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=5432, dbname=dbname, user=user)
            except psycopg2.OperationalError as exc:
                last = exc
                continue
            conn.autocommit = True
            return conn
    sys.exit(f"stopped: PostgreSQL at 127.0.0.1:5432 not reachable ({last})")


def create_database(name: str) -> str:
    """A fresh database ``name``; its URI. An existing one is refused, not reused."""
    conn = admin_connection()
    user = conn.info.user
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone():
            conn.close()
            sys.exit(f"stopped: database {name} exists; drop it or pass another --postgres-db")
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return f"postgresql+psycopg2://{user}@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    conn = admin_connection()
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


# -- processes -----------------------------------------------------------------------------------


def start_mlflow(
    backend: str, folder: Path, port: int, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    command = [
        str(BIN / "mlflow"), "server",
        "--backend-store-uri", backend,
        "--artifacts-destination", str(folder / "mlartifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = (folder / "mlflow-server.log").open("wb")
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    (folder / "mlflow-server.pid").write_text(str(server.pid))  # its process group
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"stopped: mlflow server exited with {server.returncode}; see {log.name}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply,
        ):
            if reply.status == 200:
                return server
        time.sleep(0.5)
    stop(server)
    sys.exit("stopped: mlflow server did not answer /health in 300 s")


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM to the process group, SIGKILL what is left after ``timeout``; waits until gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # gunicorn/uvicorn workers may outlive the CLI briefly
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


class Receiver:
    """A local HTTP endpoint recording the JSON POSTs apprise's ``json://`` sends."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with contextlib.suppress(ValueError):
                    receiver.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def cli(*args: str, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> str:
    """Run ``mlflow-monitor`` (next to this Python), echo its output (``  | ``), return stdout."""
    done = subprocess.run(
        [str(BIN / "mlflow-monitor"), *args], env=env, capture_output=True, text=True, check=False
    )
    output = (done.stderr + done.stdout).strip()
    print("\n".join(f"  | {line}" for line in output.splitlines()), flush=True)
    if done.returncode not in ok:
        raise RuntimeError(f"`mlflow-monitor {' '.join(args[:2])}` exited with {done.returncode}")
    return done.stdout


# -- the fleet -----------------------------------------------------------------------------------


def register_fleet(plans: list[Plan], model: object, uri: str) -> dict[str, str]:
    """Log the classifier once and register it under every name (``@champion`` on the newest
    version); ``{name: champion version}``."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("training")
    with mlflow.start_run(run_name="train-churn"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            skops_trusted_types=[TREE_PREDICTOR],
            pip_requirements=[f"scikit-learn=={installed('scikit-learn')}"],
        )
    client = MlflowClient(uri)
    champions = {}
    for plan in plans:
        for _ in range(plan.versions):
            made = mlflow.register_model(info.model_uri, plan.name)
        client.set_registered_model_tag(plan.name, "team", "retention")
        client.set_registered_model_alias(plan.name, "champion", made.version)
        champions[plan.name] = str(made.version)
    return champions


def write_specs(plans: list[Plan], folder: Path, receivers: dict[str, Receiver]) -> dict[str, Path]:
    """``specs/<model>/monitor.yaml``: the churn spec (no card) plus SLOs and two channels."""
    extra = SLOS_AND_ALERTS.format(oncall=receivers["oncall"].port, lead=receivers["lead"].port)
    specs = {}
    for plan in plans:
        text = datasets.churn_spec_yaml(plan.name).replace("card: card.yaml\n", "")
        path = folder / "specs" / plan.name / "monitor.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("report_rows: 2000", "report_rows: 500") + extra)
        specs[plan.name] = path
    return specs


def day_frame(
    plan: Plan, model: object, day: datetime, *, index: int, days: int, rows: int
) -> pd.DataFrame:
    """One model's scored, labelled traffic of one day (``index`` 0 is the oldest day)."""
    decayed = index >= days - plan.decay_days
    decay = plan.decay if decayed else 0.0
    frame = datasets.make_churn(
        rows, seed=plan.seed + index, drift=plan.drift, decay=decay, start=day, days=0.99
    )
    return datasets.score(model, frame)


def write_log(log: Any, plan: Plan, version: str, frame: pd.DataFrame) -> None:
    """The day's predictions as the serving process would have logged them, and the labels."""
    times = pd.to_datetime(frame["event_time"], utc=True)
    rows = frame.drop(columns=["churned"])
    meta = pd.DataFrame(
        {
            "mm_request_id": [uuid.uuid4().hex for _ in range(len(frame))],
            "mm_model": plan.name,
            "mm_version": version,
            "mm_time": times,
        }
    )
    log.append(pd.concat([meta, rows.reset_index(drop=True)], axis=1))
    labels = pd.DataFrame(
        {"id": frame["customer_id"].astype(str), "label": frame["churned"], "event_time": times}
    )
    log.add_labels(model=plan.name, labels=labels)


def attach_baselines(specs: dict[str, Path], reference: Path, env: dict[str, str]) -> None:
    """``mlflow-monitor baseline`` for every champion, two at a time."""

    def one(spec: Path) -> str:
        return cli("baseline", "--spec", str(spec), "--version", "@champion",
                   "--reference", str(reference), env=env)  # fmt: skip

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, specs.values()))


def write_fleet(folder: Path, specs: dict[str, Path], past: list[datetime]) -> Path:
    """``fleet.yaml``: every model's latest complete day from the log (what a team schedules
    daily), after the past days' exports as fixed windows (a one-off backfill, so the SLOs have
    history). Relative paths are read from the fleet file's folder."""
    backfill = [
        {
            "spec": str(spec.relative_to(folder)),
            "versions": ["@champion"],
            "current": str(export_path(folder, name, day).relative_to(folder)),
            "window_start": utc(day),
            "window_end": utc(day + DAY),
        }
        for day in past
        for name, spec in specs.items()
    ]
    daily = [{"spec": str(spec.relative_to(folder))} for spec in specs.values()]
    body = {"log": "prediction-log", "period": "1d", "grace": "1h", "concurrency": 2}
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump({**body, "models": backfill + daily}, sort_keys=False))
    return path


def export_path(folder: Path, name: str, day: datetime) -> Path:
    return folder / "exports" / day.strftime("%Y-%m-%d") / f"{name}.parquet"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="fleet-mlflow", type=Path, help="output folder")
    parser.add_argument("--models", default=12, type=int, help="registered models (max 12 named)")
    parser.add_argument("--rows", default=2000, type=int, help="predictions per model and day")
    parser.add_argument("--days", default=3, type=int, help="past days monitored before today")
    parser.add_argument("--postgres-db", default=None, help="database to create (default: random)")
    parser.add_argument("--port", default=None, type=int, help="mlflow server port (default: free)")
    parser.add_argument("--serve", action="store_true", help="start the dashboard and wait")
    parser.add_argument("--keep", action="store_true", help="keep the server and the database")
    args = parser.parse_args()
    folder: Path = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    dbname = args.postgres_db or f"mlflow_fleet_{uuid.uuid4().hex[:8]}"
    port = args.port or free_port()
    uri = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("MLFLOW_MONITOR_LOG_URI", None)
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"):
        os.environ[key] = env[key]  # this process registers the models on the server too
    warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")

    step(f"1. PostgreSQL database {dbname}, mlflow server on {uri}")
    backend = create_database(dbname)
    (folder / "postgres-db").write_text(dbname)
    receivers = {name: Receiver(name) for name in ("oncall", "lead")}
    server: subprocess.Popen[bytes] | None = None
    try:
        server = start_mlflow(backend, folder, port, env)
        print(f"backend {backend}; artifacts in {folder / 'mlartifacts'}")
        story(args, folder, uri, env, receivers)
        if args.serve:
            serve_dashboard(uri, env)
        return 0
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 2
    finally:
        for receiver in receivers.values():
            receiver.close()
        if args.keep:
            pid = server.pid if server else "-"
            print(f"kept: mlflow server {uri} (process group {pid}), database {dbname}")
        else:
            if server is not None:
                stop(server)
            drop_database(dbname)
            print(f"stopped the mlflow server, dropped database {dbname}")


def story(
    args: argparse.Namespace,
    folder: Path,
    uri: str,
    env: dict[str, str],
    receivers: dict[str, Receiver],
) -> None:
    plans = fleet_plans(args.models)
    now = datetime.now(timezone.utc)
    today = (now - GRACE).replace(hour=0, minute=0, second=0, microsecond=0)
    latest = today - DAY  # the latest complete day once the grace has passed
    past = [latest - DAY * (args.days - i) for i in range(args.days)]

    step(f"2. register {len(plans)} models, baselines, {args.days + 1} day(s) of traffic")
    train = datasets.make_churn(6000, seed=1, start=latest - timedelta(days=35), days=21)
    model = datasets.train_churn_model(train)
    champions = register_fleet(plans, model, uri)
    specs = write_specs(plans, folder, receivers)
    reference = folder / "reference.parquet"
    datasets.score(model, datasets.make_churn(4000, seed=2)).to_parquet(reference, index=False)
    attach_baselines(specs, reference, env)
    log = open_log(str(folder / "prediction-log"))
    for plan in plans:
        for index, day in enumerate([*past, latest]):
            frame = day_frame(plan, model, day, index=index, days=args.days + 1, rows=args.rows)
            write_log(log, plan, champions[plan.name], frame)
            if day != latest:  # the day's export, for the backfill entries of the fleet file
                export = export_path(folder, plan.name, day)
                export.parent.mkdir(parents=True, exist_ok=True)
                frame.to_parquet(export, index=False)
    for plan in plans:
        print(f"  {plan.name:<10} v{champions[plan.name]} @champion, designed: {plan.expected}")

    step(f"3. fleet run fleet.yaml: {args.days} past day(s) from exports, the latest from the log")
    fleet = write_fleet(folder, specs, past)
    report = folder / "fleet-report.json"
    cli("fleet", "run", str(fleet), "--report", str(report), env=env)
    latest_end = utc(latest + DAY)
    health = {
        w["model"]: w["health"]
        for w in json.loads(report.read_text())["windows"]
        if w["window_end"] == latest_end
    }
    print(f"latest complete day, {utc(latest)} -> {latest_end}:")
    for plan in plans:
        got = health.get(plan.name)
        mark = "" if got == plan.expected else "  UNEXPECTED"
        print(f"  {plan.name:<10} {got} (designed {plan.expected}){mark}")

    worst = next((p for p in plans if p.expected == "critical"), plans[0])
    step(f"4. SLO report for {worst.name}; escalation 31 minutes later")
    out = folder / "slo-report"
    champion = ["--spec", str(specs[worst.name]), "--version", "@champion"]
    cli("slo", "report", *champion, "--out", str(out), env=env)
    later = utc(datetime.now(timezone.utc) + timedelta(minutes=31))

    def escalate(spec: Path) -> str:
        return cli("alerts", "escalate", "--spec", str(spec), "--now", later, env=env)

    with ThreadPoolExecutor(max_workers=2) as pool:  # a scheduler's pass over every spec
        list(pool.map(escalate, specs.values()))
    received = {name: r.received for name, r in receivers.items()}
    (folder / "received.json").write_text(json.dumps(received, indent=1))
    for name, messages in received.items():
        print(f"  receiver {name}: {len(messages)} message(s)")
        for message in messages:
            print(f"    [{message.get('type')}] {message.get('title')}")

    step("5. the dashboard")
    print(f"mlflow-monitor ui --tracking-uri {uri}")


def serve_dashboard(uri: str, env: dict[str, str]) -> None:
    port = free_port()
    ui = subprocess.Popen(
        [str(BIN / "mlflow-monitor"), "ui", "--tracking-uri", uri, "--port", str(port)],
        env=env,
        start_new_session=True,
    )
    print(f"dashboard: http://127.0.0.1:{port}/monitor/ (Ctrl-C stops everything)", flush=True)
    try:
        ui.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(ui)


if __name__ == "__main__":
    sys.exit(main())

"""Serving example: a served model's requests are captured, monitored, and judged once labels come.

Run from the repository root:

    .venv/bin/python examples/serving/run.py [--dir serving-mlflow] [--rows 2000] \\
        [--webhook http://127.0.0.1:8099/hook]

The story a team lives: train and register ``churn-classifier`` v1 with its baseline; wrap it
for capture (``churn-classifier-served`` v1); serve it with ``mlflow models serve`` and replay
a week of traffic whose churn mechanism has changed (the *degraded* demo window); monitor the
replay from the prediction log (no labels yet: drift and fairness only); a week later the labels
arrive (``mlflow-monitor labels add``) and ``mlflow-monitor backfill`` re-runs the window with
them: ROC AUC, recall and F1 fall -> critical, and the alert goes to ``--webhook``.

Only the public API and the two command lines: ``mlflow_monitor`` (``mm``), its synthetic data
(``mlflow_monitor.datasets``), the capture entry point ``log_capturing_model``, MLflow's own API,
and the ``mlflow`` / ``mlflow-monitor`` executables. Everything lands in ``--dir``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from datetime import datetime, timedelta, timezone
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature

import mlflow_monitor as mm
from mlflow_monitor import datasets
from mlflow_monitor.adapters.capture.pyfunc import log_capturing_model

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
SERVED = f"{datasets.MODEL_NAME}-served"
FEATURES = [*datasets.NUMERICAL, *datasets.CATEGORICAL]
ID, TIME, LABEL = "customer_id", "event_time", "churned"
PROTECTED = datasets.PROTECTED  # gender: not a model input, kept in the log for the audit
BATCH = 50  # rows per /invocations request


class ChurnScorer(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """The registered model: the churn pipeline, answering each row's score and 0/1 decision
    (the two columns the spec names; the capture wrapper logs them under these names)."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        scored = datasets.score(self.pipeline, model_input)
        return scored[["churn_score", "prediction"]].reset_index(drop=True)


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def experiment(name: str, folder: Path) -> str:
    """An experiment whose artifacts stay in ``--dir`` (a SQLite store keeps only metadata)."""
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=(folder / "mlartifacts").as_uri()))


def write_spec(folder: Path, webhook: str | None) -> Path:
    """``monitor.yaml`` in ``--dir``: the template, without its alerts section if no webhook."""
    text = (HERE / "monitor.yaml").read_text(encoding="utf-8")
    if webhook is None:
        text = text[: text.index("# The on-call channel")]
    spec = folder / "monitor.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def apprise_url(webhook: str) -> str:
    """apprise's ``json://`` form of an ``http(s)://`` webhook (JSON POSTs to that address)."""
    return re.sub(r"^http(s?)://", r"json\1://", webhook)


def cli(*args: str, env: dict[str, str], echo: bool = True) -> str:
    """Run ``mlflow-monitor`` (next to this Python), echo its output (``  | ``), return stdout."""
    done = subprocess.run(
        [str(BIN / "mlflow-monitor"), *args], env=env, capture_output=True, text=True, check=False
    )
    if echo or done.returncode != 0:
        output = (done.stderr + done.stdout).strip()
        print("\n".join(f"  | {line}" for line in output.splitlines()), flush=True)
    if done.returncode != 0:
        sys.exit(f"stopped: `mlflow-monitor {' '.join(args[:2])}` exited with {done.returncode}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_ping(port: int, server: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the model server exited with {server.returncode}")
        ping = f"http://127.0.0.1:{port}/ping"
        with contextlib.suppress(OSError), urllib.request.urlopen(ping, timeout=1) as reply:
            if reply.status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError("the model server did not answer /ping")


def invoke(port: int, rows: pd.DataFrame) -> list[Any]:
    body = json.dumps({"dataframe_split": rows.to_dict(orient="split")}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return list(json.loads(reply.read())["predictions"])


def stop(server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM to the server's process group (the wrapper writes what it buffered), then wait
    until the group is gone; SIGKILL what is left after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout)
    while time.monotonic() < deadline:
        try:
            os.killpg(server.pid, 0)  # uvicorn, a child of the CLI, may outlive it briefly
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(10)


def utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="serving-mlflow", type=Path, help="output folder")
    parser.add_argument("--rows", default=2000, type=int, help="rows of traffic to replay")
    parser.add_argument("--webhook", default=None, help="http(s) URL the alert is POSTed to")
    args = parser.parse_args()
    folder: Path = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    log = str(folder / "prediction-log")
    spec = write_spec(folder, args.webhook)
    name = datasets.MODEL_NAME
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("MLFLOW_MONITOR_LOG_URI", None)
    if args.webhook:
        env["SERVING_WEBHOOK"] = apprise_url(args.webhook)  # a secret: never in the spec file
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")  # signature hints
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)

    # 1. Train, register churn-classifier v1, attach the scored validation data as baseline.
    step(f"1. train and register {name}, attach its baseline")
    train = datasets.make_churn(8000, seed=1, start=datasets.START - timedelta(days=28), days=21)
    pipeline = datasets.train_churn_model(train)
    reference = datasets.score(pipeline, datasets.make_churn(3000, seed=2))
    outputs = reference[["churn_score", "prediction"]]
    with mlflow.start_run(experiment_id=experiment("training", folder), run_name="train"):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=ChurnScorer(pipeline),
            signature=infer_signature(reference[FEATURES], outputs),
            registered_model_name=name,
            pip_requirements=[f"scikit-learn=={installed('scikit-learn')}", "mlflow-monitor"],
        )
    version = str(info.registered_model_version)
    baseline = mm.attach_baseline(spec=spec, version=version, reference=reference, tracking_uri=uri)
    print(f"registered {name} v{version}; baseline: {baseline.rows} reference rows")

    # 2. The capture wrapper: the model's inputs plus the id (to join labels) and the protected
    #    attribute (for the audit) are requests' columns the inner model ignores: the wrapper
    #    (no signature of its own) records what `allow` names and hands the model its columns.
    step(f"2. wrap it for capture: {SERVED}")
    kept = [*FEATURES, ID, PROTECTED]
    with mlflow.start_run(experiment_id=experiment("serving", folder), run_name="capture"):
        served = log_capturing_model(
            f"models:/{name}/{version}",
            registered_model_name=SERVED,
            log_uri=log,
            allow=kept,
        )
    served_uri = f"models:/{SERVED}/{served.registered_model_version}"
    print(f"{served_uri} records {', '.join(kept)} and the outputs into {log}")

    # 3. Serve the wrapper and replay a week of traffic (the degraded window, labels held back).
    plan, week = datasets.demo_windows(args.rows)[2]
    requests = week.drop(columns=[LABEL, TIME])  # a request carries no label and no event time
    port = free_port()
    step(f"3. serve {served_uri} on 127.0.0.1:{port}, replay {len(requests)} rows ({plan.name})")
    server_log = (folder / "server.log").open("wb")
    serve = ["models", "serve", "-m", served_uri, "--env-manager", "local", "-w", "1"]
    server = subprocess.Popen(
        [str(BIN / "mlflow"), *serve, "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=folder,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as one
    )
    (folder / "server.pid").write_text(str(server.pid))  # its process group, for a supervisor
    try:
        wait_for_ping(port, server)
        replay_start = datetime.now(timezone.utc)
        for i in range(0, len(requests), BATCH):
            invoke(port, requests.iloc[i : i + BATCH])
        replay_end = datetime.now(timezone.utc)
    except Exception as exc:
        stop(server)
        server_log.close()
        sys.exit(f"stopped: serving failed ({exc}); see {folder / 'server.log'}")
    stop(server)  # SIGTERM: the wrapper writes its buffered rows before the server exits
    server_log.close()
    print(f"sent {len(requests)} rows in {-(-len(requests) // BATCH)} requests; server stopped")
    cli("log", "stats", "--log", log, "--model", name, env=env)

    # 4. Monitor the replay from the log. Labels are not known yet: drift and fairness only.
    start = replay_start.replace(second=0, microsecond=0)
    end = replay_end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    window = ["--window-start", utc(start), "--window-end", utc(end)]
    step(f"4. monitor [{utc(start)}, {utc(end)}) from the log (no labels yet)")
    common = ["--spec", str(spec), "--version", version, "--from-log", log]
    cli("run", *common, *window, env=env)
    detail = cli("status", "--model", name, "--verbose", env=env, echo=False)
    not_judged = detail.split("not judged (", 1)[-1] if "not judged (" in detail else ""
    waiting = [s.strip() for s in not_judged.splitlines() if s.strip().startswith("- performance/")]
    print("performance not judged (no labels yet):" if waiting else "performance judged")
    print("\n".join(f"  {line}" for line in waiting))

    # 5. A week later the churn outcomes are known: id = customer_id, label = churned.
    step("5. a week later: the labels arrive")
    labels = folder / "labels.csv"
    week[[ID, LABEL]].rename(columns={ID: "id", LABEL: "label"}).to_csv(labels, index=False)
    cli("labels", "add", "--spec", str(spec), "--log", log, "--file", str(labels), env=env)

    # 6. Backfill: the window is re-run with its labels; performance is judged now.
    step("6. backfill: re-run the windows whose labels arrived")
    cli("backfill", *common, env=env)
    if args.webhook:
        print(f"the alert went to {args.webhook} (SERVING_WEBHOOK)")

    # 7. Where things stand, and what a team schedules.
    step("7. status, and the cron line a team schedules")
    print(mm.status(model=name, tracking_uri=uri))
    print(
        "cron (daily, 01:30 UTC, after the 1h grace): 30 1 * * * mlflow-monitor run "
        f"--spec monitor.yaml --version @champion --from-log {log} --latest 1d"
    )
    print(f"mlflow ui --backend-store-uri {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``examples/serving/run.py`` tells its story as shipped: capture while serving, a first window
without labels, labels a week later, a backfill that turns the window critical and pages.

Real execution, no mocks: the script trains and registers the model, serves the capture wrapper
with ``mlflow models serve``, replays traffic over HTTP and calls the ``mlflow-monitor`` CLI;
the alert reaches a ``tests.fixtures.receiver`` HTTP server through apprise's ``json://``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_monitor import datasets
from mlflow_monitor.adapters.prediction_log import open_log
from tests.fixtures.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "serving" / "run.py"
ROWS = 600


def _stop_server(folder: Path) -> None:
    """Kill the model server's process group if the script failed before stopping it."""
    pid_file = folder / "server.pid"
    if pid_file.is_file():
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


@pytest.mark.integration
def test_serving_story_from_capture_to_backfilled_alert(tmp_path: Path, receiver: Receiver) -> None:
    folder = tmp_path / "x"
    webhook = f"http://127.0.0.1:{receiver.port}/hook"
    command = [sys.executable, str(SCRIPT), "--dir", str(folder), "--rows", str(ROWS)]
    done: subprocess.CompletedProcess[str] | None = None
    try:
        done = subprocess.run(
            [*command, "--webhook", webhook],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
    finally:
        if done is None or done.returncode != 0:
            _stop_server(folder)
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-3000:]

    # the log holds exactly the replayed rows, with the id and the model's outputs
    rows = open_log(str(folder / "prediction-log")).read(model=datasets.MODEL_NAME)
    assert len(rows) == ROWS, out[-3000:]
    assert rows["customer_id"].nunique() == ROWS
    assert {"churn_score", "prediction", "gender", "tenure_months"} <= set(rows.columns)
    assert "churned" not in rows.columns

    # the first window, without labels: healthy, performance not judged
    first, _, later = out.partition("== 5.")
    assert re.search(r"churn-classifier version 1: healthy \(run", first), first[-3000:]
    assert "performance not judged (no labels yet):" in first, first[-3000:]
    assert "performance/roc_auc" in first.split("performance not judged")[-1]

    # labels stored, then the backfill re-runs the window with them: critical
    assert f"stored {ROWS} labels" in later, later[-3000:]
    assert re.search(r"coverage 0\.0% -> 100\.0%, re-run: critical", later), later[-3000:]

    # the alert reached the webhook and names a performance finding
    alerts = receiver.messages("hook")
    assert alerts, out[-3000:]
    text = " ".join(f"{a.title} {a.message}" for a in alerts)
    assert "critical" in text.lower()
    assert re.search(r"performance/(f1|roc_auc)", text), text[:2000]

    # the status table (printed by mm.status) shows the version critical
    status = out.split("== 7.")[-1]
    assert re.search(r"churn-classifier\s+1\s+\S+\s+critical", status), status[:2000]
    assert "--from-log" in status and "--latest 1d" in status

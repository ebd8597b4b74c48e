"""``mlflow-monitor rebaseline``: its help, and refusals as one line on stderr, exit 2, nothing
written (real MLflow on SQLite, the churn version registered; window runs written through
``MonitorRuns`` as ``run`` leaves them). A re-baseline that succeeds through the CLI is in
``tests/integration/test_rebaseline.py``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner, Result
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.cli import main
from tests.integration.conftest import Registered

MODEL = "churn-classifier"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def window_run(reg: Registered, name: str, *, rows: int, status: str = "FINISHED") -> str:
    runs = MonitorRuns(reg.uri)
    tags = {
        "monitor.window_start": reg.data.starts[name],
        "monitor.window_end": reg.data.ends[name],
    }
    run_id = runs.start_run(MODEL, reg.version, kind="window", run_name="window", tags=tags)
    body = {"rows": rows, "health": "critical", "window_end": tags["monitor.window_end"]}
    MlflowClient(reg.uri).log_dict(run_id, body, "results.json")
    if status != "RUNNING":
        runs.end_run(run_id, status)  # type: ignore[arg-type]
    return run_id


def runs_in_store(reg: Registered) -> int:
    client = MlflowClient(reg.uri)
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}")
    return len(client.search_runs([experiment.experiment_id])) if experiment else 0


def test_help_names_every_option() -> None:
    result = cli("rebaseline", "--help")
    assert result.exit_code == 0
    for option in ("--window-run", "--window-start", "--window-end", "--current", "--log"):
        assert option in result.output, option
    assert "--reason" in result.output and "new normal" in result.output


def test_refusals_are_one_line_and_write_nothing(registered: Registered) -> None:
    reg = registered
    name = "drifted"
    rows = len(pd.read_parquet(reg.data.windows[name]))
    finished = window_run(reg, name, rows=rows - 1)
    running = window_run(reg, "stable", rows=rows, status="RUNNING")
    before = runs_in_store(reg)
    base = ["rebaseline", "--spec", str(reg.spec), "--version", reg.version]
    base += ["--tracking-uri", reg.uri, "--current", str(reg.data.windows[name])]
    cases = {
        (): "error: --reason TEXT is required: say why this window is the new normal "
        "(it is audited)",
        ("--window-run", running, "--reason", "r"): f"error: --window-run {running}: the run "
        "is RUNNING; only a FINISHED window can become the baseline",
        ("--window-run", finished, "--reason", "r"): (
            f"error: {Path(reg.data.windows[name]).name}: {rows:,} rows ({rows:,} in the run's "
            f"window [{reg.data.starts[name]}, {reg.data.ends[name]})), but window run "
            f"{finished} recorded {rows - 1:,} rows in its results.json: not the same window"
        ),
        ("--reason", "r"): "error: name the accepted window with --window-run RUN_ID or with "
        "--window-start and --window-end (one of the two)",
        ("--window-run", finished, "--reason", "r", "--log", "/tmp/log"): "error: give the "
        "window's rows with exactly one of --current FILE or --log URI",
    }
    for extra, line in cases.items():
        result = cli(*base, *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert result.stderr.strip() == line, extra
        assert result.stdout == ""
    assert runs_in_store(reg) == before
    tags = MlflowClient(reg.uri).get_model_version(MODEL, reg.version).tags
    assert "monitor.baseline_run_id" not in tags

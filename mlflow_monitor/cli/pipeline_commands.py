"""CLI of the pipeline room: ``init``, ``baseline``, ``run``, ``status``, ``demo``.

Each command is a thin wrapper over one public function (``build_baseline.build_baseline_run``,
``monitor.run_window``, ``init_spec.write_spec`` ...); progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from mlflow_monitor.cli import _gc
from mlflow_monitor.cli._common import handles_errors, spec_option, tracking_uri_option

__all__ = ["COMMANDS"]

_FAIL_ON = {"warning": ("warning", "critical"), "critical": ("critical",)}


_STARTED = time.monotonic()


def _progress(message: str) -> None:
    click.echo(f"{time.monotonic() - _STARTED:6.1f}s {message}", err=True)


def _http_defaults() -> None:
    """Fail fast when a tracking server is unreachable (MLflow retries for minutes by default).

    Only sets values the user has not set.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


@click.command("baseline")
@spec_option()
@click.option("--version", required=True, help="Registered model version to attach it to.")
@click.option(
    "--reference",
    required=True,
    type=click.Path(),
    help="Reference data with predictions (and labels): parquet file/directory or CSV.",
)
@tracking_uri_option
@handles_errors
def baseline_command(
    spec_path: str, version: str, reference: str, tracking_uri: str | None
) -> None:
    """Build a baseline from reference data and attach it to a model version.

    Profiles the reference (chunk by chunk for large parquet), computes its performance, runs
    notebooks/baseline.ipynb, logs everything on a `monitor.kind=baseline` run in the experiment
    `monitor/<model>` and sets the version tag `monitor.baseline_run_id`.
    """
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    _gc.resume()  # the reference is profiled in this process
    _http_defaults()
    done = build_baseline_run(
        spec_path, version, reference, tracking_uri=tracking_uri, echo=_progress
    )
    click.echo(
        f"baseline run {done.run_id} attached to {done.model} version {done.version} "
        f"({done.rows:,} reference rows, sample of {done.sample_rows:,})"
    )


@click.command("run")
@spec_option()
@click.option("--version", required=True, help="Registered model version being monitored.")
@click.option(
    "--current",
    required=True,
    type=click.Path(),
    help="The window's data (predictions, labels if known): parquet or CSV.",
)
@click.option(
    "--window-start",
    default=None,
    help="ISO 8601 start (inclusive); rows are filtered on columns.timestamp.",
)
@click.option(
    "--window-end",
    default=None,
    help="ISO 8601 end (exclusive); metrics are logged with it as timestamp.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    default=None,
    help="Exit 1 when the window's health is at least this bad.",
)
@tracking_uri_option
@handles_errors
def run_command(
    spec_path: str,
    version: str,
    current: str,
    window_start: str | None,
    window_end: str | None,
    fail_on: str | None,
    tracking_uri: str | None,
) -> None:
    """Monitor one window of data for a model version.

    Executes notebooks/monitor.ipynb (and the spec's extra notebooks) with papermill, logs
    metrics, results.json, the executed notebooks and the Evidently reports on a run in
    `monitor/<model>`, and sets the version's `monitor.health`. Exit 0 whatever the health
    (1 with --fail-on tripped), 2 when the run failed.
    """
    from mlflow_monitor.adapters.evidently_reports import report_worker
    from mlflow_monitor.adapters.notebooks.execute import shipped_notebook
    from mlflow_monitor.adapters.notebooks.kernels import warm_kernel
    from mlflow_monitor.workflows import WINDOW_PRELOAD

    _http_defaults()
    # the report child and the notebook kernel start before MLflow is imported: all overlap
    with report_worker(), warm_kernel(shipped_notebook("monitor.ipynb"), preload=WINDOW_PRELOAD):
        from mlflow_monitor.workflows.monitor_window import run_window

        result = run_window(
            spec_path,
            version,
            current,
            tracking_uri=tracking_uri,
            window_start=window_start,
            window_end=window_end,
            echo=_progress,
        )
    click.echo(
        f"{result.model} version {result.version}: {result.health} "
        f"(run {result.run_id}, window end {result.window_end})"
    )
    for finding in result.failing:
        click.echo(f"  {finding}")
    if fail_on and result.health in _FAIL_ON[fail_on]:
        raise SystemExit(1)


@click.command("status")
@click.option("--model", default=None, help="Only this registered model (default: all).")
@tracking_uri_option
@handles_errors
def status_command(model: str | None, tracking_uri: str | None) -> None:
    """Print each model version's health, last check, baseline run and failing checks."""
    from mlflow_monitor.workflows.status import status_rows, status_table

    _http_defaults()
    click.echo(status_table(status_rows(model, tracking_uri=tracking_uri)))


@click.command("init")
@click.option("--model", required=True, help="Registered model name.")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(),
    help="Sample of the model's data (parquet or CSV) to infer column roles from.",
)
@click.option(
    "--out",
    default="monitor.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the spec.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@handles_errors
def init_command(model: str, data_path: str, out: str, force: bool) -> None:
    """Write a commented monitor.yaml inferred from a data file's columns, for you to edit."""
    from mlflow_monitor.workflows.init_spec import write_spec

    path = write_spec(model, data_path, Path(out), force=force)
    click.echo(f"wrote {path}: review the column roles, then run `mlflow-monitor baseline`")


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    default="demo-mlflow",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the demo's MLflow store and data.",
)
@click.option("--rows", default=4000, show_default=True, help="Rows per demo window.")
@handles_errors
def demo_command(directory: str, rows: int) -> None:
    """Run the whole story on a local SQLite MLflow store: train, baseline, three windows.

    A churn classifier is trained on synthetic data and registered; a baseline is attached;
    three weekly windows are monitored: stable (healthy), drifted (warning: feature drift,
    performance fine) and degraded (critical: performance drop).
    """
    from mlflow_monitor.workflows.demo import MODEL_NAME, run_demo
    from mlflow_monitor.workflows.status import status_rows, status_table

    _gc.resume()  # the demo trains a model and profiles data in this process
    _http_defaults()
    uri = run_demo(Path(directory), rows=rows, echo=_progress)
    click.echo(status_table(status_rows(MODEL_NAME, tracking_uri=uri)))
    click.echo("")
    click.echo("See the runs, metrics, notebooks and reports in the MLflow UI:")
    click.echo(f"  mlflow ui --backend-store-uri {uri}")


COMMANDS: list[click.Command] = [
    init_command,
    baseline_command,
    run_command,
    status_command,
    demo_command,
]

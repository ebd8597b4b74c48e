"""CLI of the pipeline room: ``init``, ``baseline``, ``run``, ``status``, ``demo``.

Each command is a thin wrapper over one public function (``build_baseline.build_baseline_run``,
``monitor.run_window``, ``init_spec.write_spec`` ...); progress goes to stderr, results to stdout,
both through ``_common.say`` (a closed pipe never reaches a workflow). ``--version`` takes a
number or an ``@alias``, resolved against the spec's model before the workflow starts.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import click

from mlflow_monitor.cli import _gc
from mlflow_monitor.cli._common import (
    fail,
    handles_errors,
    progress,
    resolve_version,
    say,
    spec_model,
    spec_option,
    tracking_uri_option,
    version_option,
)

if TYPE_CHECKING:
    from mlflow_monitor.workflows.monitor_window import WindowRun

__all__ = ["COMMANDS"]

_FAIL_ON = {"warning": ("warning", "critical"), "critical": ("critical",)}


@click.command("baseline")
@spec_option()
@version_option("Registered model version to attach it to.")
@click.option(
    "--reference",
    required=True,
    help="Reference data with predictions (and labels): a parquet file/directory or CSV, an "
    "object-store URL (s3://...), or a database URL with --query.",
)
@click.option(
    "--query",
    default=None,
    metavar="SQL",
    help="With a database URL in --reference: the SQL (or @file.sql, or a table name).",
)
@tracking_uri_option
@click.option(
    "--engine",
    type=click.Choice(["pandas", "spark"]),
    default=None,
    help="spark: the reference is profiled per Spark partition (profiles and a bounded sample "
    "reach this process); --reference may then be a Spark table name or a Delta folder "
    "(pip install mlflow-monitor[spark]). Default: the spec's engine key.",
)
@handles_errors
def baseline_command(
    spec_path: str,
    version: str,
    reference: str,
    query: str | None,
    tracking_uri: str | None,
    engine: str | None,
) -> None:
    """Build a baseline from reference data and attach it to a model version.

    Profiles the reference (chunk by chunk for large parquet), computes its performance, runs
    notebooks/baseline.ipynb, logs everything on a `monitor.kind=baseline` run in the experiment
    `monitor/<model>` and sets the version tag `monitor.baseline_run_id`.
    """
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    _gc.resume()  # the reference is profiled in this process
    version = _spec_version(spec_path, version, tracking_uri=tracking_uri)
    with _engine_variable(engine), _spark_staged(spec_path, reference, engine) as reference:
        done = build_baseline_run(
            spec_path, version, reference, tracking_uri=tracking_uri, echo=progress, query=query
        )
    say(
        f"baseline run {done.run_id} attached to {done.model} version {done.version} "
        f"({done.rows:,} reference rows, sample of {done.sample_rows:,})"
    )


@click.command("run")
@spec_option()
@version_option("Registered model version being monitored.")
@click.option(
    "--current",
    default=None,
    help="The window's data (predictions, labels if known): a parquet or CSV file or folder, "
    "an object-store URL (s3://bucket/week-48.parquet; credentials from the environment), or "
    "a database URL (postgresql://user@host/db) with --query. Rows without the model's output "
    "are scored by the version's own model (spec key scoring).",
)
@click.option(
    "--query",
    default=None,
    metavar="SQL",
    help="With a database URL in --current: the SQL (or @file.sql, or a table name). "
    ":window_start and :window_end are bound to the window's times. The password comes from "
    "the environment (PGPASSWORD, ~/.pgpass), never from the URL.",
)
@click.option(
    "--compare",
    default=None,
    metavar="VERSION",
    help="Shadow comparison: score the same rows with another version (@champion or a number) "
    "and log both sides with paired tests; a gate's must_beat reads them.",
)
@click.option(
    "--from-log",
    "log_uri",
    default=None,
    help="Instead of --current: assemble the window from this prediction log (a folder or "
    "postgresql://...) with its labels joined; needs --window-start and --window-end, or "
    "--latest.",
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
    "--latest",
    default=None,
    metavar="PERIOD",
    help="Instead of --window-*: the last complete PERIOD (1d, 6h, 1w) in UTC, aligned to the "
    "epoch (days start at 00:00Z), complete once --grace has passed after its end. For cron.",
)
@click.option(
    "--grace",
    default="1h",
    show_default=True,
    help="With --latest: how long after a window ends late predictions may still arrive.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    default=None,
    help="Exit 1 when the window's health is at least this bad.",
)
@tracking_uri_option
@click.option(
    "--engine",
    type=click.Choice(["pandas", "spark"]),
    default=None,
    help="spark: the window's statistics come from Spark partitions (profiles and counts only "
    "reach this process); --current may be a parquet path, a Spark table name or a Delta "
    "folder. Default: the spec's engine key.",
)
@handles_errors
def run_command(
    spec_path: str,
    version: str,
    current: str | None,
    query: str | None,
    compare: str | None,
    log_uri: str | None,
    window_start: str | None,
    window_end: str | None,
    latest: str | None,
    grace: str,
    fail_on: str | None,
    tracking_uri: str | None,
    engine: str | None,
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

    if (current is None) == (log_uri is None):
        fail("give the window's data with exactly one of --current and --from-log")
    if query is not None and current is None:
        fail("--query reads from the database URL given in --current")
    if compare and log_uri:
        fail("--compare works with --current (a window from the log: stage it to a file)")
    if latest:
        if window_start or window_end:
            fail("--latest sets the window: give it without --window-start/--window-end")
        window_start, window_end = _latest(latest, grace)
    if log_uri and not (window_start and window_end):
        fail("--from-log needs a window: --window-start and --window-end, or --latest")
    staged = _spark_staged(spec_path, current, engine) if current else contextlib.nullcontext("")
    # the report child and the notebook kernel start before MLflow is imported: all overlap
    with (
        _engine_variable(engine),
        staged as current,
        report_worker(),
        warm_kernel(shipped_notebook("monitor.ipynb"), preload=WINDOW_PRELOAD),
    ):
        from mlflow_monitor.workflows.monitor_window import WindowSource, run_window

        version = _spec_version(spec_path, version, tracking_uri=tracking_uri)
        if log_uri:
            result = _run_from_log(
                spec_path, version, log_uri, window_start, window_end, tracking_uri
            )
        else:
            result = run_window(
                spec_path,
                version,
                WindowSource(current or "", query),
                tracking_uri=tracking_uri,
                window_start=window_start,
                window_end=window_end,
                compare=compare,
                echo=_warning_first(spec_path),
            )
    say(
        f"{result.model} version {result.version}: {result.health} "
        f"(run {result.run_id}, window end {result.window_end})"
    )
    for finding in result.failing:
        say(f"  {finding}")
    if fail_on and result.health in _FAIL_ON[fail_on]:
        raise SystemExit(1)


@contextlib.contextmanager
def _engine_variable(engine: str | None) -> Iterator[None]:
    """``--engine`` for this command's notebooks (their kernels, started inside, inherit it);
    the variable is put back afterwards, so a process that runs several commands keeps none."""
    name = "MLFLOW_MONITOR_ENGINE"  # adapters/sources/spark.py ENGINE_VARIABLE (pyspark-free)
    before = os.environ.get(name)
    if engine:
        os.environ[name] = engine
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _latest(latest: str, grace: str) -> tuple[str, str]:
    from datetime import datetime, timezone

    from mlflow_monitor.contract import utc_text
    from mlflow_monitor.spec import parse_duration
    from mlflow_monitor.workflows.log_windows import latest_window

    try:
        period, settle = parse_duration(latest), parse_duration(grace)
    except ValueError as exc:
        fail(f"--latest/--grace: {exc}")
    start, end = latest_window(period, now=datetime.now(timezone.utc), grace_seconds=settle)
    progress(f"[run] --latest {latest}: window [{utc_text(start)}, {utc_text(end)})")
    return utc_text(start), utc_text(end)


def _run_from_log(
    spec_path: str,
    version: str,
    log_uri: str,
    window_start: str | None,
    window_end: str | None,
    tracking_uri: str | None,
) -> WindowRun:
    from mlflow_monitor.adapters.sources.files import parse_time
    from mlflow_monitor.workflows.log_windows import run_from_log

    start = parse_time(window_start, "window-start")
    end = parse_time(window_end, "window-end")
    if start is None or end is None or start >= end:
        fail("--window-start must be before --window-end")
    return run_from_log(
        spec_path,
        version,
        log_uri=log_uri,
        start=start,
        end=end,
        tracking_uri=tracking_uri,
        echo=_warning_first(spec_path),
    )


def _warning_first(spec_path: str) -> Callable[[str], None]:
    """``progress``, preceded once by the spec's warning line (an unset ``${VAR}`` in an alert URL).

    The warning shows with the run's first progress line, so bad input, which stops the command
    before any progress, still prints its one error line only.
    """
    from mlflow_monitor.spec import load_spec
    from mlflow_monitor.workflows.preflight import unset_secrets

    pending = [line for line in [unset_secrets(load_spec(spec_path))] if line]

    def echo(message: str) -> None:
        while pending:
            say(pending.pop(), err=True)
        progress(message)

    return echo


def _spec_version(spec_path: str, version: str, *, tracking_uri: str | None) -> str:
    """``--version`` as a number; an ``@alias`` is one of the spec's model."""
    if not version.startswith("@"):
        return version
    return resolve_version(spec_model(spec_path), version, tracking_uri=tracking_uri)


@click.command("backfill")
@spec_option()
@version_option("Registered model version whose past windows are re-evaluated.")
@click.option(
    "--from-log", "log_uri", required=True, help="The prediction log the windows came from."
)
@click.option(
    "--min-rise",
    type=float,
    default=0.05,
    show_default=True,
    help="Re-run a window when its label coverage rose by more than this share.",
)
@tracking_uri_option
@handles_errors
def backfill_command(
    spec_path: str, version: str, log_uri: str, min_rise: float, tracking_uri: str | None
) -> None:
    """Re-evaluate past windows whose labels arrived since they ran.

    Each window of the version is assembled from the log again; when its label coverage rose by
    more than --min-rise the window is run again (superseding its earlier result; performance is
    logged at the window's end). Only the latest window can change the version's health.
    """
    from mlflow_monitor.workflows.log_windows import backfill

    _gc.resume()
    version = _spec_version(spec_path, version, tracking_uri=tracking_uri)
    done = backfill(
        spec_path,
        version,
        log_uri=log_uri,
        min_rise=min_rise,
        tracking_uri=tracking_uri,
        echo=progress,
    )
    for w in done:
        what = f"re-run: {w.run.health} (run {w.run.run_id})" if w.run else "unchanged"
        say(
            f"{w.window_start} - {w.window_end}: coverage {w.coverage_then:.1%} -> "
            f"{w.coverage_now:.1%}, {what}"
        )
    if not done:
        say("no past window to re-evaluate")


@click.command("status")
@click.option("--model", default=None, help="Only this registered model (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with every field.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="List every failing check (default: 3); below the table, each finding's value, "
    "baseline, allowed bound and interval, and every check not judged with its reason.",
)
@tracking_uri_option
@handles_errors
def status_command(
    model: str | None, as_json: bool, verbose: bool, tracking_uri: str | None
) -> None:
    """Print each model version's aliases, health, its window, last error and failing checks.

    HEALTH is the verdict of the latest window ("healthy (partial)" when a critical check could
    not be evaluated), "failed (no verdict)", "no baseline" or "not checked"; WINDOW is the
    verdict's window end; LAST ERROR the first line of the last failed attempt; CHECKS counts
    every check per status ("85 checks (12 of them policy rules): ..."). FAILING shows 3 checks
    (-v: all, and below the table each finding's numbers and the checks not judged with their
    reasons); --json prints every field.
    """
    from mlflow_monitor.workflows.status import status_json, status_rows, status_table

    rows = status_rows(model, tracking_uri=tracking_uri)
    say(status_json(rows) if as_json else status_table(rows, verbose=verbose))


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
    say(f"wrote {path}: review the column roles, then run `mlflow-monitor baseline`")


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
@tracking_uri_option
@handles_errors
def demo_command(directory: str, rows: int, tracking_uri: str | None) -> None:
    """Run the whole story: train, baseline, three windows, on MLflow.

    The store is --tracking-uri (or $MLFLOW_TRACKING_URI) when given, else a SQLite store in
    --dir. A churn classifier is trained on synthetic data and registered; a baseline is
    attached; three weekly windows are monitored: stable (healthy), drifted (warning: feature
    drift, performance fine) and degraded (critical: performance drop).
    """
    from mlflow_monitor.workflows.demo import MODEL_NAME, run_demo
    from mlflow_monitor.workflows.status import status_rows, status_table

    _gc.resume()  # the demo trains a model and profiles data in this process
    uri = run_demo(Path(directory), rows=rows, echo=progress, tracking_uri=tracking_uri)
    say(status_table(status_rows(MODEL_NAME, tracking_uri=uri)))
    say("")
    say(f"The runs, metrics, notebooks and reports are in the MLflow store at {uri}")
    say(_ui_hint(uri))


def _ui_hint(uri: str) -> str:
    """How to look at ``uri``: a server is opened in a browser, a store through ``mlflow ui``."""
    dashboard = (
        "and in the dashboard (fleet, trends, alerts, gates):\n"
        f"  mlflow-monitor ui --tracking-uri {uri}"
    )
    if urlparse(uri).scheme in ("http", "https"):
        return f"Open it in a browser: {uri}\n{dashboard}"
    return f"See them in the MLflow UI:\n  mlflow ui --backend-store-uri {uri}\n{dashboard}"


@contextlib.contextmanager
def _spark_staged(spec_path: str, source: str, engine: str | None) -> Iterator[str]:
    """With the Spark engine, a table name or Delta folder written to parquet by Spark first.

    A local parquet path is used as it is. The staged copy is removed at the end.
    """
    from mlflow_monitor.spec import load_spec

    chosen = engine or load_spec(spec_path).engine
    path = Path(source)
    if chosen != "spark" or (path.exists() and not (path / "_delta_log").is_dir()):
        yield source
        return
    from mlflow_monitor.adapters.sources.spark import stage_spark_source

    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-spark-") as folder:
        progress(f"[spark] staging {source} as parquet")
        yield str(stage_spark_source(source, Path(folder)))


COMMANDS: list[click.Command] = [
    init_command,
    baseline_command,
    run_command,
    backfill_command,
    status_command,
    demo_command,
]

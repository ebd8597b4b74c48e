"""The prediction log's commands: ``labels add`` (labels that arrive later), ``log stats``,
``log compact`` and ``log retention``."""

from __future__ import annotations

import click

from mlflow_monitor.cli._common import fail, handles_errors, say, spec_option

__all__ = ["COMMANDS", "labels", "log"]

LOG_ENV = "MLFLOW_MONITOR_LOG_URI"


def log_option(func: click.decorators.FC) -> click.decorators.FC:
    """``--log URI``: the prediction log (a folder or ``postgresql://...``), else $LOG_ENV."""
    return click.option(
        "--log",
        "log_uri",
        envvar=LOG_ENV,
        required=True,
        help=f"Prediction log: a folder (embedded parquet) or postgresql://... [env {LOG_ENV}]",
    )(func)


@click.group()
def labels() -> None:
    """Ground truth that arrives after the predictions."""


@labels.command("add")
@spec_option("The model's monitor.yaml (model, columns.id, task).")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(),
    help="Labels: CSV or parquet with an id, a label and optionally an event time.",
)
@log_option
@click.option("--id-column", default="id", show_default=True, help="Column holding the id.")
@click.option("--label-column", default="label", show_default=True, help="Column of labels.")
@click.option(
    "--time-column",
    default="event_time",
    show_default=True,
    help="Column of event times (optional in the file).",
)
@handles_errors
def add_command(
    spec_path: str, path: str, log_uri: str, id_column: str, label_column: str, time_column: str
) -> None:
    """Store labels for the spec's model. A label joins the prediction with the same id: when the
    id was predicted several times, the latest prediction at or before the label's event time
    (the latest, without one). Unknown ids and duplicates are counted and reported."""
    from mlflow_monitor.spec import load_spec
    from mlflow_monitor.workflows.log_windows import add_labels

    spec = load_spec(spec_path)
    done = add_labels(
        spec,
        path,
        log_uri=log_uri,
        id_column=id_column,
        label_column=label_column,
        time_column=time_column,
    )
    say(
        f"stored {done.stored:,} labels for {spec.model}: {done.unknown_ids:,} with an id the "
        f"log never predicted, {done.duplicates:,} duplicates (the label added last wins)"
    )


@click.group("log")
def log() -> None:
    """The prediction log: what it holds, compaction, retention."""


@log.command("stats")
@log_option
@click.option("--model", required=True, help="Registered model name.")
@handles_errors
def stats_command(log_uri: str, model: str) -> None:
    """Print how many predictions, files and labels the log holds for MODEL."""
    from mlflow_monitor.adapters.prediction_log import open_log

    held = open_log(log_uri).stats(model=model)
    say(
        f"{model}: {held.predictions:,} predictions in {held.files:,} files, {held.labels:,} labels"
    )


@log.command("compact")
@log_option
@click.option("--model", default=None, help="Only this model (default: all).")
@handles_errors
def compact_command(log_uri: str, model: str | None) -> None:
    """Merge small files (the embedded store; safe while predictions are being written)."""
    from mlflow_monitor.adapters.prediction_log import open_log

    merged = open_log(log_uri).compact(model=model)
    say(f"compacted: {merged:,} files merged away")


@log.command("retention")
@log_option
@click.option("--keep", required=True, help="Keep predictions this recent (e.g. 90d, 26w).")
@handles_errors
def retention_command(log_uri: str, keep: str) -> None:
    """Delete predictions made more than --keep ago (labels are kept)."""
    from datetime import datetime, timedelta, timezone

    from mlflow_monitor.adapters.prediction_log import open_log
    from mlflow_monitor.contract import utc_text
    from mlflow_monitor.spec import parse_duration

    try:
        seconds = parse_duration(keep)
    except ValueError as exc:
        fail(f"--keep: {exc}")
    before = datetime.now(timezone.utc) - timedelta(seconds=seconds)
    dropped = open_log(log_uri).apply_retention(before=before)
    say(f"dropped {dropped:,} predictions made before {utc_text(before)}")


COMMANDS: list[click.Command] = [labels, log]

"""``mlflow-monitor labels add``: labels that arrive later, stored in the prediction log."""

from __future__ import annotations

import click

from mlflow_monitor.cli._common import handles_errors, say, spec_option

__all__ = ["COMMANDS", "labels"]

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


COMMANDS: list[click.Command] = [labels]

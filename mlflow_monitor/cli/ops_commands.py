"""CLI subcommands of operations: ``rebaseline`` (an accepted window becomes the new baseline).

``rebaseline`` exits 0 when the new baseline is attached and audited, 2 on bad input (no
reason, a window run that is not finished or no longer counts, rows that are not the window's,
a window without labels the spec needs) with one line on stderr and nothing written.
"""

from __future__ import annotations

import click

from mlflow_monitor.cli._common import (
    handles_errors,
    progress,
    resolve_version,
    say,
    spec_model,
    spec_option,
    tracking_uri_option,
    version_option,
)

__all__ = ["COMMANDS", "rebaseline_command"]


@click.command("rebaseline")
@spec_option()
@version_option("Model version whose baseline moves.")
@click.option(
    "--window-run",
    "window_run",
    default=None,
    help="Run id of the accepted window (a FINISHED window run that still counts).",
)
@click.option(
    "--window-start", default=None, help="Or name the window: its start (UTC ISO 8601)..."
)
@click.option("--window-end", default=None, help="...and its end (UTC ISO 8601).")
@click.option(
    "--current",
    type=click.Path(dir_okay=False),
    default=None,
    help="The file (CSV/parquet) the window was run on, with labels.",
)
@click.option(
    "--log",
    "log_uri",
    default=None,
    help="Or the prediction log (folder or postgresql://) it was read from.",
)
@click.option("--reason", default=None, help="Why this window is the new normal (required).")
@tracking_uri_option
@handles_errors
def rebaseline_command(
    spec_path: str,
    version: str,
    window_run: str | None,
    window_start: str | None,
    window_end: str | None,
    current: str | None,
    log_uri: str | None,
    reason: str | None,
    tracking_uri: str | None,
) -> None:
    """Make an accepted window the version's new baseline ("this drift is the new normal").

    The window's rows are read again (--current or --log) and must be the rows its run
    judged; the new baseline is built as `baseline` builds one and the version's
    monitor.baseline_run_id moves to it (the old baseline run is kept). The move is audited:
    `mlflow-monitor history` lists it, with who, when and --reason.
    """
    from mlflow_monitor.workflows.rebaseline import WindowChoice, rebaseline

    model = spec_model(spec_path)
    version = resolve_version(model, version, tracking_uri=tracking_uri)
    done = rebaseline(
        spec_path,
        version,
        window=WindowChoice(window_run, window_start, window_end),
        reason=reason,
        current=current,
        log_uri=log_uri,
        tracking_uri=tracking_uri,
        echo=progress,
    )
    r = done.record
    say(
        f"rebaselined {model} version {version}: baseline run "
        f"{r.previous_baseline_run_id or '(none)'} -> {r.baseline_run_id}"
    )
    say(f"  from window run {r.window_run_id} [{r.window_text}), {r.rows:,} rows")
    say(f"  reason: {r.reason}")
    say(f"  audit record: run {done.audit_run_id}")


COMMANDS: list[click.Command] = [rebaseline_command]

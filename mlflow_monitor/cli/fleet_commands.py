"""``fleet run``: the latest complete window of every model version of a fleet, on warm workers.

Progress (a bar on a terminal, one line per window otherwise) goes to stderr; the summary table
to stdout. Exit codes: 0 every window ran (whatever its health), 1 ``--fail-on`` tripped, 2 a
window failed or the fleet is bad input (one line naming the key; nothing run).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlflow_monitor.cli._common import fail, handles_errors, progress, say, tracking_uri_option

if TYPE_CHECKING:
    from mlflow_monitor.workflows.fleet_run import FleetReport
    from mlflow_monitor.workflows.fleet_worker import WindowOutcome

__all__ = ["COMMANDS", "fleet"]

_FAIL_ON = {"warning": ("warning", "critical"), "critical": ("critical",)}


@click.group("fleet")
def fleet() -> None:
    """Many models at once: a fleet file, or a folder of monitor.yaml specs."""


@fleet.command("run")
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--log",
    "log_uri",
    default=None,
    help="Prediction log every model's window is read from (a folder or postgresql://...); "
    "overrides the fleet file's `log`. Needed for a folder of specs.",
)
@click.option("--period", default=None, help="Window length, e.g. 1d, 6h (default: 1d).")
@click.option(
    "--grace",
    default=None,
    help="How long after a window ends late predictions may still arrive (default: 1h).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Windows run at the same time, one worker process each (default: the fleet file's "
    "`concurrency`, else the number of CPUs).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    default=None,
    help="Exit 1 when a window's health is at least this bad.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write every window's outcome (times, worker, timeline) to this JSON file.",
)
@tracking_uri_option
@handles_errors
def run_command(
    source: str,
    log_uri: str | None,
    period: str | None,
    grace: str | None,
    concurrency: int | None,
    fail_on: str | None,
    report_path: str | None,
    tracking_uri: str | None,
) -> None:
    """Monitor the latest complete window of every model version in SOURCE.

    SOURCE is a fleet file (YAML: log, period, grace, concurrency, models: [{spec, versions,
    log, current}]) or a folder: every monitor.yaml below it is a model, read from --log. By
    default each model's versions are those holding an alias (@champion...), resolved now.
    The window is the last complete --period (aligned in UTC) once --grace has passed. One
    model's failure is reported and the others still run. Exit 0 when every window ran
    (whatever its health), 1 with --fail-on tripped, 2 when a window failed.
    """
    from mlflow_monitor.workflows.fleet_run import plan_fleet, run_fleet

    plan = plan_fleet(source, log_uri=log_uri, period=period, grace=grace)
    bar = _Progress()
    try:
        report = run_fleet(
            plan,
            tracking_uri=tracking_uri,
            concurrency=concurrency,
            now=datetime.now(timezone.utc),
            progress=bar,
        )
    finally:
        bar.close()
    if report_path:
        Path(report_path).write_text(json.dumps(report.to_dict(), indent=1))
    _summary(report)
    if report.failed:
        names = ", ".join(f"{o.job.model} {o.job.named}".strip() for o in report.failed)
        fail(f"{len(report.failed)} of {len(report.outcomes)} windows failed: {names}")
    if fail_on and report.tripped(_FAIL_ON[fail_on]):
        raise SystemExit(1)


class _Progress:
    """A bar on a terminal (stderr), else a line per window; never raises into the workflow."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._total = 0
        self._done = 0

    def planned(self, total: int) -> None:
        self._total = total
        if sys.stderr.isatty():
            self._bar = click.progressbar(length=total, label="fleet", file=sys.stderr)
            self._bar.__enter__()
        else:
            progress(f"[fleet] {total} windows")

    def done(self, outcome: WindowOutcome) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)
            return
        what = outcome.health if outcome.ok else f"FAILED: {outcome.error}"
        progress(
            f"[fleet] {self._done}/{self._total} {outcome.job.model} {outcome.job.named}: {what}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _summary(report: FleetReport) -> None:
    """The table on stdout: one row per window, failures with their one line."""
    rows = [("MODEL", "VERSION", "WINDOW END", "HEALTH", "SECONDS", "RUN / ERROR")]
    for o in report.outcomes:
        version = o.job.version or "-"
        if o.job.named not in ("", o.job.version):
            version = f"{version} {o.job.named}"
        rows.append(
            (
                o.job.model,
                version,
                o.window_end or o.job.window_end or "",
                o.health if o.ok and o.health else "FAILED",
                f"{o.seconds:.1f}" if o.ended else "-",
                (o.run_id or "") if o.ok else (o.error or ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        say("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5])
    health = [o.health for o in report.outcomes if o.ok]
    counts = ", ".join(
        f"{health.count(h)} {h}" for h in ("healthy", "warning", "critical") if h in health
    )
    say(f"{len(report.outcomes)} windows: {counts or 'none judged'}; {len(report.failed)} failed")
    for line in report.followups.lines:
        say(line)
    for note in report.followups.notes:
        say(f"note: {note}", err=True)


COMMANDS: list[click.Command] = [fleet]

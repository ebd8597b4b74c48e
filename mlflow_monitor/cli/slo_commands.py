"""CLI of service levels: ``slo report``, ``slo status``, ``slo alert``.

Each command parses its options and calls one function of ``workflows.slo_report``. ``--now``
(UTC ISO text) fixes the clock, so a report can be reproduced and a test needs no sleeping;
``--period-end`` judges an earlier period than the one ending now.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlflow_monitor.cli._common import (
    fail,
    handles_errors,
    resolve_version,
    say,
    spec_model,
    spec_option,
    tracking_uri_option,
    version_option,
)

if TYPE_CHECKING:
    from mlflow_monitor.workflows.slo_report import SloReport

__all__ = ["COMMANDS"]

_now_option = click.option(
    "--now",
    "now_text",
    default=None,
    help="The evaluation time, UTC ISO 8601 (default: the current time).",
)
_period_end_option = click.option(
    "--period-end",
    "period_end_text",
    default=None,
    help="End of the judged period, UTC ISO 8601 (default: --now).",
)


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    from mlflow_monitor.contract import parse_utc

    try:
        return parse_utc(text)
    except ValueError:
        fail(f"{option}: {text!r} is not a UTC ISO 8601 time (e.g. 2026-11-30T00:00:00Z)")


@click.group("slo")
def slo_group() -> None:
    """Service-level objectives of a model version: error budgets and burn-rate alerts.

    The SLOs are the spec's `slos:` list (objective check, freshness or policies; target;
    period). A window excluded for insufficient data, no labels or a failed run is counted,
    never judged; windows judged on estimates are shown apart from the measured SLI.
    """


@slo_group.command("report")
@spec_option()
@version_option("Registered model version whose SLOs to judge.")
@click.option(
    "--out",
    default="slo-report",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for slo_report.json and slo_report.html.",
)
@_now_option
@_period_end_option
@tracking_uri_option
@handles_errors
def report_command(
    spec_path: str,
    version: str,
    out: str,
    now_text: str | None,
    period_end_text: str | None,
    tracking_uri: str | None,
) -> None:
    """Write the SLO report (JSON and HTML: budgets, burn rates, windows, a burn-down chart)
    and record it on the version (tag monitor.slo, shown by `status`)."""
    from mlflow_monitor.workflows.slo_report import record_slo_tag, write_slo_report

    report = _report(spec_path, version, now_text, period_end_text, tracking_uri)
    body, page = write_slo_report(report, Path(out))
    if report.results:
        record_slo_tag(report, tracking_uri=tracking_uri)
    for line in report.lines():
        say(line)
    say(f"wrote {body} and {page}", err=True)


@slo_group.command("status")
@spec_option()
@version_option("Registered model version whose SLOs to judge.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@_now_option
@_period_end_option
@tracking_uri_option
@handles_errors
def status_command(
    spec_path: str,
    version: str,
    as_json: bool,
    now_text: str | None,
    period_end_text: str | None,
    tracking_uri: str | None,
) -> None:
    """Print one row per SLO: SLI, target, windows, budget left, burn rates, firing tiers."""
    import json

    from mlflow_monitor.workflows.slo_report import slo_table

    report = _report(spec_path, version, now_text, period_end_text, tracking_uri)
    say(json.dumps(report.to_dict(), indent=2) if as_json else slo_table(report))


@slo_group.command("alert")
@spec_option()
@version_option("Registered model version whose SLOs to judge.")
@_now_option
@tracking_uri_option
@handles_errors
def alert_command(
    spec_path: str, version: str, now_text: str | None, tracking_uri: str | None
) -> None:
    """Judge the SLOs, send burn alerts that started (or stopped) firing through the spec's
    channels, once each, and record the judgement on the version (what `fleet run` does)."""
    from mlflow_monitor.spec import load_spec
    from mlflow_monitor.workflows.slo_report import evaluate_and_alert_slos

    spec = load_spec(spec_path)
    number = resolve_version(spec_model(spec_path), version, tracking_uri=tracking_uri)
    done = evaluate_and_alert_slos(
        tracking_uri=tracking_uri,
        spec=spec,
        version=number,
        now=_moment(now_text, "--now") or datetime.now(timezone.utc),
    )
    for line in done.report.lines():
        say(line)
    for alert in done.alerts.alerts:
        reason = f": {alert.reason}" if alert.reason else ""
        say(f"[slo] {alert.key} {alert.kind} -> {alert.channel}: {alert.status}{reason}", err=True)
    if done.alerts.error:
        say(f"[slo] alerts {done.alerts.status}: {done.alerts.error}", err=True)
    for note in done.notes:
        say(f"[slo] {note}", err=True)


def _report(
    spec_path: str,
    version: str,
    now_text: str | None,
    period_end_text: str | None,
    tracking_uri: str | None,
) -> SloReport:
    from mlflow_monitor.workflows.slo_report import slo_report

    now = _moment(now_text, "--now") or datetime.now(timezone.utc)
    period_end = _moment(period_end_text, "--period-end")
    number = resolve_version(spec_model(spec_path), version, tracking_uri=tracking_uri)
    return slo_report(
        spec_path=spec_path,
        version=number,
        now=now,
        period_end=period_end,
        tracking_uri=tracking_uri,
    )


COMMANDS = [slo_group]

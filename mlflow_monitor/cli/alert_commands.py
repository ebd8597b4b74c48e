"""``mlflow-monitor alerts``: test the channels, escalate, and record people's decisions.

``alerts test`` sends a test message to every channel of a spec. ``alerts escalate`` sends the
due escalation steps (``workflows.escalation``; a scheduler calls it, ``--now`` for a replay).
``alerts ack|dismiss|reopen`` record who decided what about one alert, when and why
(``workflows.adjudicate``); ``alerts decisions`` lists them. Exit 0 done, 2 bad input (an
unknown ``--check`` names it; nothing is written) or a failed delivery.
"""

from __future__ import annotations

from datetime import datetime

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

__all__ = ["COMMANDS", "alerts"]


@click.group()
def alerts() -> None:
    """Alerts: test channels, escalate unacknowledged findings, ack/dismiss/reopen them."""


@alerts.command("test")
@spec_option("monitor.yaml whose alerts.channels receive the test message.")
@handles_errors
def test_command(spec_path: str) -> None:
    """Send a test message to every channel; exit 0 if all delivered, else 2."""
    from mlflow_monitor.spec import load_spec
    from mlflow_monitor.workflows.dispatch_alerts import failed_line, send_test

    spec = load_spec(spec_path)
    if not spec.alerts.channels:
        fail(f"{spec_path}: alerts.channels lists no channel")
    results = send_test(spec)
    for result in results:
        say(f"{result.channel:<20} {result.status:<7} {result.url}")
        if result.status == "failed":
            say(failed_line(result), err=True)
    failed = [r for r in results if r.status != "sent"]
    if failed:
        fail(
            f"{len(failed)} of {len(results)} channels failed: "
            + ", ".join(r.channel for r in failed)
        )


@alerts.command("escalate")
@spec_option("monitor.yaml holding alerts.escalation and the channels.")
@click.option(
    "--now",
    default=None,
    help="Judge 'due' at this UTC time instead of the clock (ISO 8601; for replays and tests).",
)
@tracking_uri_option
@handles_errors
def escalate_command(spec_path: str, now: str | None, tracking_uri: str | None) -> None:
    """Send every due escalation step of the spec's model (one line per channel told).

    A finding still firing, unacknowledged, ``after`` its first message goes to the step's
    channels, once per step. Run it from a scheduler (every few minutes).
    """
    from mlflow_monitor.spec import load_spec
    from mlflow_monitor.workflows.escalation import escalate

    spec = load_spec(spec_path)
    spec.require_model(spec_path)
    moment = _moment(now)
    result = escalate(tracking_uri=tracking_uri, spec=spec, now=moment)
    for d in result.deliveries:
        extra = f" ({d.reason})" if d.reason else ""
        say(f"v{d.version} {d.key} step {d.step + 1} -> {d.channel}: {d.status}{extra}")
    for note in result.notes:
        say(f"note: {note}", err=True)
    if not result.deliveries:
        say(f"nothing due for {spec.model} ({len(result.versions)} version(s) with alert state)")
    if result.failed or any(n.startswith("v") for n in result.notes):
        fail(f"{len(result.failed)} escalation delivery(ies) failed")


def _moment(text: str | None) -> datetime | None:
    from mlflow_monitor.contract import parse_utc

    if text is None:
        return None
    try:
        return parse_utc(text)
    except ValueError:
        fail(f"--now {text}: not a UTC time (use e.g. 2026-11-30T12:00:00Z)")


def _decision_command(action: str, summary: str) -> click.Command:
    """``alerts ack|dismiss|reopen``: one command each, the same options."""

    @click.command(action, help=summary)
    @spec_option("monitor.yaml naming the model (or give --model).", required=False)
    @click.option("--model", default=None, help="Registered model name (instead of --spec).")
    @version_option("The model version the alert is about.")
    @click.option(
        "--check",
        required=True,
        help="The check id (e.g. performance/f1) or root-cause key (cause:drift:age) alerted on.",
    )
    @click.option("--reason", required=True, help="Why (kept with who and when).")
    @tracking_uri_option
    @handles_errors
    def command(
        spec_path: str | None,
        model: str | None,
        version: str,
        check: str,
        reason: str,
        tracking_uri: str | None,
    ) -> None:
        from mlflow_monitor.contract import utc_text
        from mlflow_monitor.workflows.adjudicate import adjudicate

        name = _model(spec_path, model)
        number = resolve_version(name, version, tracking_uri=tracking_uri)
        record = adjudicate(
            tracking_uri=tracking_uri,
            model=name,
            version=number,
            check=check,
            action=action,  # type: ignore[arg-type]
            reason=reason,
        )
        say(
            f"{action}: {name} v{number} {record.key} by {record.user} at {utc_text(record.at)}"
            f" (record {record.record_id})"
        )

    return command


def _model(spec_path: str | None, model: str | None) -> str:
    if spec_path and model:
        fail("give --spec or --model, not both")
    if spec_path:
        return spec_model(spec_path)
    if not model:
        fail("--model or --spec: name the model")
    return model


_DECISIONS: list[tuple[str, str]] = [
    ("ack", "Acknowledge an alert: it is being handled. Escalation stops; it keeps firing."),
    (
        "dismiss",
        "Dismiss an alert: no messages until it changes materially (severity rises, its effect "
        "size doubles, or it resolves and fires again).",
    ),
    ("reopen", "Undo an ack or dismissal: the alert is treated as new again."),
]
for _action, _summary in _DECISIONS:
    alerts.add_command(_decision_command(_action, _summary))


@alerts.command("decisions")
@spec_option("monitor.yaml naming the model (or give --model).", required=False)
@click.option("--model", default=None, help="Registered model name (instead of --spec).")
@click.option("--version", default=None, help="Only this version (a number or @alias).")
@tracking_uri_option
@handles_errors
def decisions_command(
    spec_path: str | None, model: str | None, version: str | None, tracking_uri: str | None
) -> None:
    """List every ack, dismissal and reopen of the model's alerts, oldest first."""
    from mlflow_monitor.contract import utc_text
    from mlflow_monitor.workflows.adjudicate import decision_history

    name = _model(spec_path, model)
    number = resolve_version(name, version, tracking_uri=tracking_uri) if version else None
    records = decision_history(tracking_uri=tracking_uri, model=name, version=number)
    if not records:
        say(f"no alert decisions recorded for {name}")
        return
    for r in records:
        say(f"{utc_text(r.at)} v{r.version:<4} {r.action:<8} {r.key}  {r.user}: {r.reason}")


COMMANDS: list[click.Command] = [alerts]

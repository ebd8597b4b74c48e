"""``mlflow-monitor silence add|list|end``: hold alerts back for a while, on the record.

A silence covers a model (every version) or one version, optionally one check (or
``cause:`` key) and one channel, until a time (``--until``) or for a while (``--for 4h``).
Window runs record what it held back in ``alerts.json`` (``suppressed: silenced <id>``);
once it expires or is ended, messages flow again. Who, when and why are kept in MLflow
(``workflows.adjudicate``). Exit 0 done, 2 bad input (one line naming the option).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import click

from mlflow_monitor.cli._common import (
    fail,
    handles_errors,
    resolve_version,
    say,
    spec_model,
    spec_option,
    tracking_uri_option,
)

__all__ = ["COMMANDS", "silence"]


@click.group()
def silence() -> None:
    """Silence alerts for a while (maintenance, a known incident), with who, when and why."""


@silence.command("add")
@spec_option("monitor.yaml naming the model; checks --channel against it.", required=False)
@click.option("--model", default=None, help="Registered model name (instead of --spec).")
@click.option("--version", default=None, help="Only this version (a number or @alias).")
@click.option("--check", default=None, help="Only this check id or cause: key.")
@click.option("--channel", default=None, help="Only this channel (its name in the spec).")
@click.option("--until", "until", default=None, help="End time, UTC ISO 8601.")
@click.option("--for", "duration", default=None, help="How long, e.g. 30m, 4h, 2d.")
@click.option("--reason", required=True, help="Why (kept with who and when).")
@tracking_uri_option
@handles_errors
def add_command(
    spec_path: str | None,
    model: str | None,
    version: str | None,
    check: str | None,
    channel: str | None,
    until: str | None,
    duration: str | None,
    reason: str,
    tracking_uri: str | None,
) -> None:
    """Add a silence; prints its id (for ``silence end``)."""
    from mlflow_monitor.contract import utc_text
    from mlflow_monitor.workflows.adjudicate import add_silence

    name = _model(spec_path, model)
    if spec_path and channel:
        _known_channel(spec_path, channel)
    now = datetime.now(timezone.utc)
    end = _end(until, duration, now)
    number = resolve_version(name, version, tracking_uri=tracking_uri) if version else None
    added = add_silence(
        tracking_uri=tracking_uri,
        model=name,
        until=end,
        reason=reason,
        version=number,
        check=check,
        channel=channel,
        now=now,
    )
    say(f"silence {added.silence_id}: {added.scope} until {utc_text(added.until)} by {added.user}")


@silence.command("list")
@spec_option("monitor.yaml naming the model (or give --model).", required=False)
@click.option("--model", default=None, help="Registered model name (instead of --spec).")
@click.option("--all", "everything", is_flag=True, help="Also ended and expired silences.")
@tracking_uri_option
@handles_errors
def list_command(
    spec_path: str | None, model: str | None, everything: bool, tracking_uri: str | None
) -> None:
    """List the model's silences in force (``--all``: every one), oldest first."""
    from mlflow_monitor.contract import utc_text
    from mlflow_monitor.workflows.adjudicate import list_silences

    name = _model(spec_path, model)
    found = list_silences(tracking_uri=tracking_uri, model=name, everything=everything)
    if not found:
        say(f"no silences {'recorded' if everything else 'in force'} for {name}")
        return
    for s in found:
        ended = f" ended {utc_text(s.ended_at)} by {s.ended_by}" if s.ended_at else ""
        say(
            f"{s.silence_id}  {s.scope}  until {utc_text(s.until)}{ended}  "
            f"by {s.user} at {utc_text(s.created_at)}: {s.reason}"
        )


@silence.command("end")
@click.argument("silence_id")
@tracking_uri_option
@handles_errors
def end_command(silence_id: str, tracking_uri: str | None) -> None:
    """End the silence SILENCE_ID now (it stays listed with ``--all``)."""
    from mlflow_monitor.contract import utc_text
    from mlflow_monitor.workflows.adjudicate import end_silence

    ended = end_silence(tracking_uri=tracking_uri, silence_id=silence_id)
    when = utc_text(ended.ended_at) if ended.ended_at else "now"
    say(f"silence {silence_id} ended at {when} by {ended.ended_by}")


def _model(spec_path: str | None, model: str | None) -> str:
    if spec_path and model:
        fail("give --spec or --model, not both")
    if spec_path:
        return spec_model(spec_path)
    if not model:
        fail("--model or --spec: name the model")
    return model


def _known_channel(spec_path: str, channel: str) -> None:
    from mlflow_monitor.spec import load_spec
    from mlflow_monitor.verdicts.alert_plan import channel_key

    names = [channel_key(c) for c in load_spec(spec_path).alerts.channels]
    if channel not in names:
        fail(f"--channel {channel}: no such channel in {spec_path} (known: {', '.join(names)})")


def _end(until: str | None, duration: str | None, now: datetime) -> datetime:
    """``--until`` or ``--for`` (exactly one) as a UTC time."""
    from mlflow_monitor.contract import parse_utc
    from mlflow_monitor.spec import parse_duration

    if (until is None) == (duration is None):
        fail("give --until TIME or --for DURATION (one of them)")
    if duration is not None:
        try:
            return now + timedelta(seconds=parse_duration(duration))
        except ValueError as exc:
            fail(f"--for {duration}: {exc}")
    assert until is not None
    try:
        return parse_utc(until)
    except ValueError:
        fail(f"--until {until}: not a UTC time (use e.g. 2026-11-30T18:00:00Z)")


COMMANDS: list[click.Command] = [silence]

"""CLI subcommands of the gate room: ``promote`` (health-gated alias move) and ``history``.

``promote`` exits 0 when the alias moved (granted or forced), 1 when the gate refused
(``promotion of m version 2 to @champion refused:`` then every line of the decision, uncounted,
on stderr), 2 on bad input or an MLflow failure. ``--version`` takes a number or an ``@alias``
(``--version @challenger --alias champion``).
"""

from __future__ import annotations

import json
import sys

import click

from mlflow_monitor.cli._common import (
    handles_errors,
    resolve_version,
    say,
    spec_option,
    tracking_uri_option,
    version_option,
)
from mlflow_monitor.errors import GateRefused

__all__ = ["COMMANDS", "history_command", "promote_command"]


@click.command("promote")
@click.option("--model", required=True, help="Registered model name.")
@version_option("Model version to promote.")
@click.option("--alias", required=True, help="Registry alias to move, e.g. champion.")
@spec_option("monitor.yaml holding the alias's gate (default gate without it).", required=False)
@click.option("--force", is_flag=True, help="Override a refusal (needs --reason; audited).")
@click.option("--reason", default=None, help="Why the override is justified.")
@tracking_uri_option
@handles_errors
def promote_command(
    model: str,
    version: str,
    alias: str,
    spec_path: str | None,
    force: bool,
    reason: str | None,
    tracking_uri: str | None,
) -> None:
    """Point MODEL@ALIAS at VERSION if its recorded health passes the alias's gate."""
    from mlflow_monitor.spec import load_spec
    from mlflow_monitor.workflows.promote import promote

    spec = load_spec(spec_path) if spec_path else None
    if spec is not None and spec.model != model:
        say(f"warning: spec is for model {spec.model!r}, promoting {model!r}", err=True)
    version = resolve_version(model, version, tracking_uri=tracking_uri)
    try:
        result = promote(
            spec, model, version, alias, tracking_uri=tracking_uri, force=force, reason=reason
        )
    except GateRefused as refused:
        say(f"{refused}:", err=True)  # the lines, uncounted: a must_pass summary heads its checks
        for line in refused.reasons:
            say(f"  - {line}", err=True)
        say("  (use --force --reason TEXT to override; the override is audited)", err=True)
        sys.exit(refused.exit_code)
    record = result.record
    previous = f"version {record.previous_version}" if record.previous_version else "unset"
    verb = "FORCED" if result.forced else "granted"
    say(f"{verb}: {model}@{alias} -> version {version} (previous: {previous})")
    for line in record.reasons if result.forced else ():
        say(f"  overridden: {line}")
    say(f"  audit record: run {record.run_id}")


@click.command("history")
@click.option("--model", required=True, help="Registered model name.")
@click.option("--alias", default=None, help="Only this alias's records.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")
@tracking_uri_option
@handles_errors
def history_command(model: str, alias: str | None, as_json: bool, tracking_uri: str | None) -> None:
    """Print every alias decision for MODEL (granted, refused, forced, rollbacks), oldest first."""
    from mlflow_monitor.workflows.promote import history

    records = history(model, tracking_uri=tracking_uri, alias=alias)
    if as_json:
        for record in records:
            say(json.dumps({**record.to_dict(), "run_id": record.run_id}, sort_keys=True))
        return
    if not records:
        say(f"no alias decisions recorded for {model}")
        return
    say(f"{'when (UTC)':<27} {'decision':<16} {'alias':<12} {'ver':>4} {'prev':>5}  who")
    for r in records:
        say(
            f"{r.at:<27} {r.decision:<16} {r.alias:<12} {r.version:>4} "
            f"{r.previous_version or '-':>5}  {r.user}"
        )
        if r.override_reason:
            say(f"{'':<28}override reason: {r.override_reason}")
        for line in r.reasons:
            say(f"{'':<28}- {line}")


COMMANDS: list[click.Command] = [promote_command, history_command]

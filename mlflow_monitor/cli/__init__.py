"""The ``mlflow-monitor`` command line: a click group whose subcommands map onto public functions.

Each room contributes its subcommands from its own module here, registered below.
"""

from __future__ import annotations

import click

from mlflow_monitor.cli import (
    _gc,
    alert_commands,
    card_commands,
    fleet_commands,
    gate_commands,
    log_commands,
    ops_commands,
    pipeline_commands,
    silence_commands,
    slo_commands,
    ui_commands,
    webhook_commands,
)
from mlflow_monitor.cli._common import command_defaults

__all__ = ["console", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlflow-monitor")
def main() -> None:
    """Monitor MLflow models: drift, decay, fairness, policy checks, alerts, gated promotion."""
    command_defaults()  # every subcommand: fail fast on an unreachable server, results-only stdout


for _module in (
    pipeline_commands,
    alert_commands,
    silence_commands,
    gate_commands,
    card_commands,
    log_commands,
    ops_commands,
    fleet_commands,
    slo_commands,
    ui_commands,
    webhook_commands,
):
    for _command in _module.COMMANDS:
        main.add_command(_command)


def console() -> None:
    """The ``mlflow-monitor`` executable: ``main`` with the collector paused (see ``_gc``)."""
    _gc.pause()
    try:
        main()
    finally:
        _gc.freeze_for_exit()

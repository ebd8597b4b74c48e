"""``mlflow-monitor alerts test``: send a test message to every channel of a spec, report each."""

from __future__ import annotations

import click

from mlflow_monitor.cli._common import fail, handles_errors, say, spec_option

__all__ = ["COMMANDS", "alerts"]


@click.group()
def alerts() -> None:
    """Alert channels: check delivery before a real finding needs it."""


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


COMMANDS: list[click.Command] = [alerts]

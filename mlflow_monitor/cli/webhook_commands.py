"""CLI subcommands of MLflow's registry webhooks: ``webhooks register`` and ``webhooks list``.

The dashboard (``mlflow-monitor ui`` or ``mlflow server --app-name monitor``) receives the alias
events at ``/monitor/webhooks/mlflow`` and records, alerts and (``revert_bypass``) reverts alias
moves made around the promotion gate (``workflows.bypass``).
"""

from __future__ import annotations

import click

from mlflow_monitor.cli._common import handles_errors, say, tracking_uri_option

__all__ = ["COMMANDS", "webhooks"]


@click.group()
def webhooks() -> None:
    """MLflow webhooks: tell the dashboard about every alias move, to catch gate bypasses."""


@webhooks.command("register")
@click.option(
    "--url",
    required=True,
    help="The receiver: http(s)://HOST:PORT/monitor/webhooks/mlflow of the dashboard.",
)
@click.option(
    "--secret-env",
    required=True,
    metavar="NAME",
    help="Environment variable holding the shared secret; the dashboard reads the same one "
    "(`mlflow-monitor ui --webhook-secret-env NAME`).",
)
@click.option(
    "--model", default=None, help="Only this model's alias events (default: every model)."
)
@tracking_uri_option
@handles_errors
def register_command(
    url: str, secret_env: str, model: str | None, tracking_uri: str | None
) -> None:
    """Create (or update, rotating its secret) the webhook for `model_version_alias.created`.

    Needs MLflow >= 3.3 with a SQL store, reached through its server (--tracking-uri http://...).
    For a receiver on http or on a private address, start `mlflow server` with
    MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true.
    """
    from mlflow_monitor.workflows.bypass import register_webhook

    info = register_webhook(tracking_uri=tracking_uri, url=url, secret_env=secret_env, model=model)
    verb = "registered" if info.created else "updated"
    say(f"{verb} webhook {info.name} ({info.webhook_id}): {','.join(info.events)} -> {info.url}")


@webhooks.command("list")
@tracking_uri_option
@handles_errors
def list_command(tracking_uri: str | None) -> None:
    """List the tracking server's webhooks: id, name, status, events, URL (never the secret)."""
    from mlflow_monitor.workflows.bypass import list_webhooks

    found = list_webhooks(tracking_uri=tracking_uri)
    if not found:
        say("no webhooks registered")
    for info in found:
        say(info.line())


COMMANDS: list[click.Command] = [webhooks]

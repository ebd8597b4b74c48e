"""CLI subcommand of the dashboard: ``ui`` serves it over any tracking URI.

Werkzeug's threaded server, bound to 127.0.0.1 unless told otherwise: a personal or team-laptop
dashboard. Shared deployments serve the same pages from ``mlflow server --app-name monitor``
(or ``monitor-basic-auth``), or from any WSGI server with ``mlflow_monitor.ui:create_app``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import unquote

import click

from mlflow_monitor.cli import _gc
from mlflow_monitor.cli._common import fail, handles_errors, say, tracking_uri_option

__all__ = ["COMMANDS", "ui_command"]


@click.command("ui")
@tracking_uri_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; 0.0.0.0 exposes the dashboard (no login) to the network.",
)
@click.option("--port", default=5005, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--mlflow-ui-url",
    default=None,
    help="The MLflow UI's address, for links to runs (default: the tracking URI when it is "
    "http(s); none for a database or a folder).",
)
@click.option(
    "--webhook-secret-env",
    default="MLFLOW_MONITOR_WEBHOOK_SECRET",
    show_default=True,
    metavar="NAME",
    help="Environment variable holding the secret of MLflow's webhooks, verified at "
    "/monitor/webhooks/mlflow (see `mlflow-monitor webhooks register`). Unset: deliveries get 503.",
)
@handles_errors
def ui_command(
    tracking_uri: str | None,
    host: str,
    port: int,
    mlflow_ui_url: str | None,
    webhook_secret_env: str,
) -> None:
    """Serve the monitoring dashboard: the fleet's health, each model's trends with threshold
    bands and crossings, alerts and gate decisions, at http://HOST:PORT/monitor/.

    Reads any MLflow tracking store (SQLite, PostgreSQL, an MLflow server). This is a
    single-process server for one person or a small team. For a shared deployment, serve the
    dashboard inside MLflow's own server, `mlflow server --app-name monitor` (or
    `--app-name monitor-basic-auth` behind MLflow's login), or with a WSGI server:
    `gunicorn 'mlflow_monitor.ui:create_app(tracking_uri="...")'`.
    """
    from werkzeug.serving import make_server

    _existing_sqlite(tracking_uri)  # a mistyped path would silently become an empty store
    listening = _listen(host, port)  # before the imports: a busy port fails at once
    from mlflow_monitor.ui import create_app

    app = create_app(
        tracking_uri=tracking_uri,
        mlflow_ui_url=mlflow_ui_url,
        webhook_secret_env=webhook_secret_env,
    )
    _gc.resume()  # a long-running server collects as usual once its imports are done
    server = make_server(host, port, app, threaded=True, fd=listening.fileno())
    shown = f"[{host}]" if ":" in host else host
    bound = listening.getsockname()[1]
    say(f"mlflow-monitor dashboard at http://{shown}:{bound}/monitor/ (Ctrl+C stops)")
    if not os.environ.get(webhook_secret_env):
        say(f"webhooks: ${webhook_secret_env} is not set; /monitor/webhooks/mlflow answers 503")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        listening.close()


def _existing_sqlite(tracking_uri: str | None) -> None:
    """One line and exit 2 when a ``sqlite:`` URI names a file that does not exist (MLflow
    would create it, and its folder, empty): the dashboard only reads a store."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    path = _sqlite_path(uri)
    if path is not None and not Path(path).is_file():
        fail(f"no SQLite store at {path} (from {uri}): check the path; the dashboard creates none")


def _sqlite_path(uri: str) -> str | None:
    """The file of a ``sqlite:///relative`` or ``sqlite:////absolute`` URI; None otherwise
    (not SQLite, or in memory)."""
    scheme, _, rest = uri.partition("://")
    if scheme.split("+", 1)[0].lower() != "sqlite" or not rest.startswith("/"):
        return None
    path = unquote(rest[1:].split("?", 1)[0])
    return path if path and path != ":memory:" else None


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``; one line and exit 2 when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


COMMANDS = [ui_command]

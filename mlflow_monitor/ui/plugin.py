"""The dashboard inside ``mlflow server``: two ``mlflow.app`` entry points (pyproject.toml).

``mlflow server --app-name monitor`` serves MLflow (UI, REST API, artifacts) and the dashboard
at ``/monitor`` from one process; ``--app-name monitor-basic-auth`` does the same behind
MLflow's basic-auth (``--app-name`` takes one app, so a server that uses basic-auth keeps it
with this one). Both factories follow ``mlflow.server.auth.create_app``: they decorate MLflow's
Flask app ``mlflow.server.app`` and, when the server runs under uvicorn (MLflow 3's default),
return the ASGI app ``mlflow.server.fastapi_app.create_fastapi_app`` builds around it; under
gunicorn or waitress the Flask app itself. MLflow calls a factory with no arguments.

The dashboard reads the server's own backend store in-process (the ``--backend-store-uri``
MLflow hands its workers) and, with ``--serve-artifacts``, reads ``mlflow-artifacts:/`` run
roots from ``--artifacts-destination`` (``adapters.mlflow.fleet.install_proxied_artifacts``).
Run links go to this same origin's MLflow UI.

Access under basic-auth: every ``/monitor`` page needs a login (401 without one). MLflow has
no permission rule for these pages, so with ``MLFLOW_BASIC_AUTH_FAIL_CLOSED`` (on by default in
MLflow 3.17) it answers 403 to every user but an admin: the dashboard is admin-only. With
``MLFLOW_BASIC_AUTH_FAIL_CLOSED=false`` every logged-in user sees the whole fleet: MLflow's
per-model permissions are not applied to the dashboard's pages. MLflow marks the ``mlflow.app``
interface experimental; the standalone ``mlflow-monitor ui`` stays the first-class way to serve
the dashboard.

The MLflow server's pieces come through ``adapters.mlflow.fleet``: only the adapter imports MLflow.
"""

from __future__ import annotations

from flask import Flask

from mlflow_monitor.adapters.mlflow.fleet import (
    install_proxied_artifacts,
    served_app,
    server_flask_app,
    server_store_uri,
    with_basic_auth,
)
from mlflow_monitor.ui.app import mount
from mlflow_monitor.ui.state import Settings

__all__ = ["create_basic_auth_app", "create_monitor_app"]


def create_monitor_app() -> object:
    """``mlflow server --app-name monitor``: MLflow's server and the dashboard at ``/monitor``."""
    server_app = server_flask_app()
    _mount_dashboard(server_app)
    return served_app(server_app)


def create_basic_auth_app() -> object:
    """``mlflow server --app-name monitor-basic-auth``: MLflow's basic-auth over MLflow's server,
    then the dashboard at ``/monitor`` behind the same login."""
    server_app = server_flask_app()
    served = with_basic_auth(server_app)  # the ASGI app under uvicorn, else the Flask app
    _mount_dashboard(server_app)
    return served


def _mount_dashboard(server_app: Flask) -> None:
    install_proxied_artifacts()
    settings = Settings(tracking_uri=server_store_uri(), mlflow_ui_url="", mode="plugin")
    mount(server_app, settings)

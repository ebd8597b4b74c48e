"""The dashboard as a Flask app of its own, or mounted on another Flask app (MLflow's server).

``mount`` registers the ``/monitor`` blueprint on an app and gives it a ``Dashboard`` over a
tracking URI; ``create_app`` is a small Flask app that only does that, with ``/`` sent to
``/monitor/``. Both paths serve the same pages from the same code.
"""

from __future__ import annotations

from flask import Flask, redirect, url_for
from werkzeug.wrappers import Response

from mlflow_monitor.ui.metrics import serve_metrics, serve_root_metrics
from mlflow_monitor.ui.pages import EXTENSION, blueprint
from mlflow_monitor.ui.state import Dashboard, Settings
from mlflow_monitor.ui.webhooks import DEFAULT_SECRET_ENV, mount_webhooks

__all__ = ["create_app", "mount"]


def mount(
    app: Flask, settings: Settings, *, webhook_secret_env: str = DEFAULT_SECRET_ENV
) -> Flask:
    """Serve the dashboard at ``/monitor`` on ``app``, reading ``settings.tracking_uri``, and
    MLflow's alias webhooks at ``/monitor/webhooks/mlflow`` (secret in ``$webhook_secret_env``,
    ``ui.webhooks``)."""
    app.extensions[EXTENSION] = Dashboard(settings)
    app.register_blueprint(blueprint)
    mount_webhooks(app, secret_env=webhook_secret_env)
    serve_metrics(app)  # Prometheus: /monitor/metrics (ui.metrics)
    return app


def create_app(
    *,
    tracking_uri: str | None = None,
    mlflow_ui_url: str | None = None,
    webhook_secret_env: str = DEFAULT_SECRET_ENV,
) -> Flask:
    """The standalone dashboard over ``tracking_uri`` (else ``MLFLOW_TRACKING_URI``, else
    MLflow's default); run links go to ``mlflow_ui_url``, else to the tracking URI when it is
    an MLflow server (http/https). A WSGI server can serve it:
    ``gunicorn 'mlflow_monitor.ui:create_app(tracking_uri="http://mlflow:5000")'``."""
    app = Flask(__name__)
    settings = Settings(tracking_uri=tracking_uri, mlflow_ui_url=mlflow_ui_url)
    mount(app, settings, webhook_secret_env=webhook_secret_env)
    serve_root_metrics(app)  # /metrics as well: no MLflow exporter here to clash with

    @app.route("/")
    def home() -> Response:
        return redirect(url_for("monitor.fleet"))

    return app

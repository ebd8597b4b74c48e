"""The dashboard: the fleet's health, each model's trends, alerts and gate decisions, in a browser.

Two ways to serve the same Flask blueprint at ``/monitor``: ``mlflow-monitor ui`` (``create_app``,
a small app of its own over any tracking URI, bound to 127.0.0.1 by default) and inside
``mlflow server --app-name monitor`` / ``monitor-basic-auth`` (``ui.plugin``, the server's own
store). Pages are server-rendered Jinja2 (``templates/monitor/``); a small script of ours sorts
and filters the fleet table (``static/fleet.js``) and draws the trends (``static/trends.js``).

Charts use Plotly.js, served from the installed ``plotly`` Python package
(``plotly.offline.get_plotlyjs()``, already installed as an Evidently dependency) at
``/monitor/static/plotly.min.js``: it works offline and behind firewalls (no CDN, every asset
comes from this app), it is well kept, it gives zoom and hover out of the box, and a threshold
band is a filled shape, which is what a monitoring chart needs.
"""

from __future__ import annotations

from mlflow_monitor.ui.app import create_app, mount

__all__ = ["create_app", "mount"]

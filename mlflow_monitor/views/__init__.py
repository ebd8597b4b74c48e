"""Inline HTML views of monitoring results for notebooks (``_repr_html_``).

Pure, standard-library only, importing nothing from ``mlflow_monitor``: the bottom layer, so
the contract, verdicts and workflows can all render themselves with it.
"""

from __future__ import annotations

from mlflow_monitor.views.charts import bar_chart_svg
from mlflow_monitor.views.inline_html import (
    card_frame_html,
    health_badge,
    history_html,
    page_html,
    panel_html,
    table_html,
    window_html,
)

__all__ = [
    "bar_chart_svg",
    "card_frame_html",
    "health_badge",
    "history_html",
    "page_html",
    "panel_html",
    "table_html",
    "window_html",
]

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
from mlflow_monitor.views.run_note import (
    NoteLinks,
    baseline_note,
    failed_window_note,
    window_note,
)

__all__ = [
    "NoteLinks",
    "bar_chart_svg",
    "baseline_note",
    "card_frame_html",
    "failed_window_note",
    "health_badge",
    "history_html",
    "page_html",
    "panel_html",
    "table_html",
    "window_html",
    "window_note",
]

"""The previous windows a window's notebook draws its trend figure with.

Before the notebook runs, ``write_notebook_trends`` reads the version's last counting windows
(``window_history``: the newest finished attempt per window, in window order) that end no later
than the window being run, leaves out that window's own earlier attempts, and writes their
``results.json`` bodies (outcomes and metrics; the statistics sections are dropped, the trends
do not read them) to the file the notebook gets as ``trends_path``. Inside the notebook,
``this_window_trends`` appends the window being judged and builds the series
(``verdicts.trends.build_trends``), and ``window_figures`` draws the window's figures with them
(``adapters.plots``). Optional: a store that cannot be read gives no file, and the figure shows
this window alone; a figure that cannot be drawn is a note; neither ever fails the window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_monitor.adapters import plots
from mlflow_monitor.adapters.notebook_parameters import read_trends, write_trends
from mlflow_monitor.contract import RESULTS_FILE, WindowResults, parse_utc
from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.verdicts.evaluation import WindowResult
from mlflow_monitor.verdicts.trends import VersionTrends, WindowRecord, build_trends

__all__ = [
    "PREVIOUS_WINDOWS",
    "THIS_WINDOW",
    "TRENDS_FILE",
    "previous_windows",
    "this_window_trends",
    "window_figures",
    "write_notebook_trends",
]

PREVIOUS_WINDOWS = 9  # with the window being run: ten windows on the figure
TRENDS_FILE = "trends.json"
THIS_WINDOW = "this window"  # the run id the window being judged is drawn under
_log = logging.getLogger(__name__)

if TYPE_CHECKING:  # MLflow is imported by the workflow side only: the notebook stays light
    import pandas as pd

    from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
    from mlflow_monitor.workflows.version_trends import ArtifactCache
    from mlflow_monitor.workflows.window_history import WindowPoint


def write_notebook_trends(
    model: str,
    version: str,
    folder: Path,
    *,
    tracking_uri: str | None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    last: int = PREVIOUS_WINDOWS,
) -> str:
    """The path of the previous windows' file for the notebook; "" when none could be read."""
    try:
        records = previous_windows(
            model,
            version,
            tracking_uri=tracking_uri,
            window_start=window_start,
            window_end=window_end,
            last=last,
        )
        return str(write_trends(records, folder / TRENDS_FILE))
    except Exception as exc:  # optional output: the trend figure shows this window alone
        _log.warning("trends for the notebook not read: %s: %s", type(exc).__name__, exc)
        return ""


def previous_windows(
    model: str,
    version: str,
    *,
    tracking_uri: str | None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    last: int = PREVIOUS_WINDOWS,
    cache: ArtifactCache | None = None,
) -> list[WindowRecord]:
    """The last ``last`` counting windows of the version that end no later than ``window_end``,
    other than the window ``[window_start, window_end)`` itself, oldest first."""
    from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
    from mlflow_monitor.workflows.version_trends import ArtifactCache
    from mlflow_monitor.workflows.window_history import window_history

    runs = MonitorRuns(tracking_uri)
    cache = cache or ArtifactCache(size=4 * last)
    points = window_history(model, version=version, tracking_uri=runs.tracking_uri).windows
    kept = [p for p in points if _before(p.window_end, p.window_start, window_end, window_start)]
    records = (_record(runs, cache, p) for p in kept[-last:] if last > 0)
    return [r for r in records if r is not None]


def this_window_trends(
    trends_path: str, result: WindowResults, *, last: int = PREVIOUS_WINDOWS
) -> VersionTrends:
    """The previous windows (``trends_path``) and ``result``, the window being judged, as
    trends. A previous attempt at the same window, or a later window, is left out."""
    end = parse_utc(result.window_end)
    start = parse_utc(result.window_start) if result.window_start else None
    previous = [
        r
        for r in read_trends(trends_path)
        if _before(r.results.window_end, r.results.window_start, end, start)
    ]
    kept = previous[-last:] if last > 0 else []
    return build_trends(model=result.model, windows=[*kept, WindowRecord(THIS_WINDOW, result)])


def _before(
    end: str, start: str | None, window_end: datetime | None, window_start: datetime | None
) -> bool:
    """True for a window that ends no later than ``window_end`` and is not that window."""
    if window_end is None:
        return True
    ends = parse_utc(end)
    same = ends == window_end and (parse_utc(start) if start else None) == window_start
    return ends <= window_end and not same


def _record(runs: MonitorRuns, cache: ArtifactCache, point: WindowPoint) -> WindowRecord | None:
    """The window's results without their statistics sections; None when unreadable."""
    body = cache.read(runs, point.run_id, RESULTS_FILE)
    if not isinstance(body, Mapping):
        return None
    try:
        results = WindowResults.from_dict(body)
    except DataError:
        return None
    return WindowRecord(point.run_id, replace(results, sections={}))


def window_figures(
    result: WindowResult,
    *,
    reference: DatasetProfile,
    frame: pd.DataFrame,
    trends_path: str = "",
    folder: Path | None = None,
) -> plots.PlotSet:
    """The figures of the window being judged: its drifted columns (re-profiled from ``frame``,
    all rows, on ``reference``'s edges), performance, group rates and the trends with the
    previous windows (``trends_path``), written to ``folder`` as ``<name>.png`` when given.
    What cannot be read, drawn or written is a note."""
    notes = []
    try:
        trends: VersionTrends | None = this_window_trends(trends_path, result)
    except Exception as exc:  # optional output: drawn without the trend figure
        trends = None
        notes.append(f"plots: previous windows not read ({type(exc).__name__}: {exc})")
    prediction = result.prediction_drift.columns if result.prediction_drift else ()
    drawn = plots.window_plots(
        results=result,
        reference=reference,
        frame=frame,
        drift=[*result.drift.columns, *prediction],
        trends=trends,
    )
    notes += drawn.notes
    if folder is not None:
        try:
            plots.write_plots(drawn.plots, folder, notes=notes)  # one note per figure not written
        except OSError as exc:  # the folder itself: shown in the notebook, not kept on the run
            notes.append(f"plots: not written to {folder} ({type(exc).__name__}: {exc})")
    return replace(drawn, notes=tuple(notes))

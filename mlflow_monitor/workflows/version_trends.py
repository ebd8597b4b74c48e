"""A model's trends read from MLflow: the last windows' results, alerts sent and alias moves.

Steps: list the counting windows (``window_history``: the newest attempt per window, in window
order, whatever order the runs were made in), keep the last ``last``, read each one's
``results.json`` and ``alerts.json``, read the alias decisions of the versions shown (the audit
records), and build the series (``verdicts.trends.build_trends``). Artifacts are written once,
so the dashboard's ``ArtifactCache`` keeps what it read by run id and reads each window once per
process, however often a page is drawn (a file not written yet is asked again after a while).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import ALERTS_FILE, RESULTS_FILE, WindowResults
from mlflow_monitor.errors import DataError
from mlflow_monitor.verdicts.trends import EventMark, VersionTrends, WindowRecord, build_trends
from mlflow_monitor.workflows.window_history import WindowPoint, window_history

__all__ = ["DEFAULT_WINDOWS", "ArtifactCache", "version_trends"]

DEFAULT_WINDOWS = 30  # windows drawn when the caller names no number
_ABSENT = object()


@dataclass
class ArtifactCache:
    """JSON artifacts of runs by ``(run id, path)``; least recently used dropped first.

    A file that exists is kept (artifacts are written once); a file that does not exist yet
    (``alerts.json`` is logged after the run ends) is asked again after ``absent_seconds``.
    """

    size: int = 4096
    absent_seconds: float = 30.0

    def __post_init__(self) -> None:
        self._items: OrderedDict[tuple[str, str], tuple[object, float]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, runs: MonitorRuns, run_id: str, path: str) -> object | None:
        """The artifact's JSON (None when the run has no such file)."""
        key = (run_id, path)
        with self._lock:
            held = self._items.get(key)
            if held is not None and (held[0] is not _ABSENT or time.monotonic() < held[1]):
                self._items.move_to_end(key)
                return None if held[0] is _ABSENT else held[0]
        body = runs.read_json(run_id, path)
        with self._lock:
            self._items[key] = (
                _ABSENT if body is None else body,
                time.monotonic() + self.absent_seconds,
            )
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return body


def version_trends(
    model: str,
    *,
    version: str | None = None,
    last: int = DEFAULT_WINDOWS,
    tracking_uri: str | None = None,
    cache: ArtifactCache | None = None,
) -> VersionTrends:
    """Trends of ``model`` (one ``version``, or every version: a promotion shows as a change of
    version along the same line) over its last ``last`` counting windows. A long-lived reader
    (the dashboard) passes its own ``cache``; without one every artifact is read afresh."""
    cache = cache if cache is not None else ArtifactCache()
    runs = MonitorRuns(tracking_uri)
    points = window_history(model, version=version, tracking_uri=runs.tracking_uri).windows
    shown = points[-last:] if last > 0 else points
    records = [r for r in (_record(runs, cache, p) for p in shown) if r is not None]
    versions = {p.version for p in shown} if version is None else {version}
    events = [*_alert_events(runs, cache, model, shown), *_alias_events(model, versions, runs)]
    return build_trends(model=model, windows=records, events=events)


def _record(runs: MonitorRuns, cache: ArtifactCache, point: WindowPoint) -> WindowRecord | None:
    """The window's results; a run without a readable ``results.json`` is left out."""
    body = cache.read(runs, point.run_id, RESULTS_FILE)
    if not isinstance(body, Mapping):
        return None
    try:
        return WindowRecord(point.run_id, WindowResults.from_dict(body))
    except DataError:
        return None


def _alert_events(
    runs: MonitorRuns, cache: ArtifactCache, model: str, points: tuple[WindowPoint, ...]
) -> list[EventMark]:
    """One mark per channel a window's alert message was sent to (``alerts.json``), by any
    finished attempt of the windows shown: a rerun that superseded the attempt that paged
    does not unsend its page."""
    shown = {(p.version, p.window_start, p.window_end) for p in points}
    events = []
    for version in sorted({p.version for p in points}):
        for attempt in runs.window_attempts(model, version):
            window = (version, attempt.window_start, attempt.window_end)
            if attempt.status != "FINISHED" or window not in shown:
                continue
            body = cache.read(runs, attempt.run_id, ALERTS_FILE)
            events += _sent(body, version, attempt.window_end or "")
    return events


def _sent(body: object, version: str, at: str) -> list[EventMark]:
    if not isinstance(body, Mapping):
        return []
    marks = []
    for channel in body.get("channels") or ():
        if isinstance(channel, Mapping) and channel.get("status") == "sent":
            severity = channel.get("severity") or "alert"
            text = f"{severity} sent to {channel.get('channel')}"
            marks.append(EventMark(at, "alert", version, text))
    return marks


def _alias_events(model: str, versions: set[str], runs: MonitorRuns) -> list[EventMark]:
    """Alias decisions (moves, refusals, rollbacks) that concern the versions shown."""
    from mlflow_monitor.workflows.promote import history

    events = []
    for record in history(model, tracking_uri=runs.tracking_uri):
        if record.version not in versions and (record.previous_version or "") not in versions:
            continue
        text = f"{record.decision} @{record.alias} -> v{record.version}"
        if record.previous_version:
            text += f" (was v{record.previous_version})"
        events.append(EventMark(record.at, "alias", record.version, text))
    return events

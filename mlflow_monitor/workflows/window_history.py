"""A model version's windows over time: one result per window, its health and logged metrics.

``window_history`` reads every window run of the version(s) and keeps what the version's state
is settled from (``verdicts.window_state.settle``): the newest FINISHED attempt of each window,
never a superseded, failed or running one. Rows are in window order (end, then start), so the
history tells the same story as the health tag, whatever order the runs were made in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.errors import RegistryError
from mlflow_monitor.verdicts.window_state import settle
from mlflow_monitor.views import history_html

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_CHART_METRICS", "WindowHistory", "WindowPoint", "window_history"]

# charted when the caller names none: the first of these the windows logged (MLflow names)
DEFAULT_CHART_METRICS = (
    "perf/roc_auc", "perf/accuracy", "perf/f1_macro", "perf/rmse", "perf/mae",
    "drift/share_drifted", "quality/missing_share",
)  # fmt: skip
_CHARTED = 3


@dataclass(frozen=True)
class WindowPoint:
    """One window's counting result: its bounds, health, run and logged metrics."""

    model: str
    version: str
    window_start: str | None
    window_end: str
    health: str | None
    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "version": self.version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "health": self.health,
            "run_id": self.run_id,
            **self.metrics,
        }


@dataclass(frozen=True)
class WindowHistory:
    """The windows of a model (or one version), oldest first; renders a health strip and trends."""

    model: str
    version: str | None
    windows: tuple[WindowPoint, ...]
    charted: tuple[str, ...] = ()

    def __repr__(self) -> str:
        healths = " ".join(w.health or "-" for w in self.windows[-10:])
        return f"WindowHistory(model={self.model!r}, windows={len(self.windows)}: {healths})"

    def to_dict(self) -> list[dict[str, object]]:
        """One mapping per window: bounds, health, run id and every logged metric."""
        return [w.to_dict() for w in self.windows]

    def to_frame(self) -> pd.DataFrame:
        """One row per window; metrics as columns (NaN where a window did not log one)."""
        import pandas as pd

        fixed = ["model", "version", "window_start", "window_end", "health", "run_id"]
        metrics = sorted({name for w in self.windows for name in w.metrics})
        return pd.DataFrame(self.to_dict(), columns=[*fixed, *metrics])

    def _repr_html_(self) -> str:
        scope = f"{self.model} v{self.version}" if self.version else self.model
        return history_html(
            self.to_dict(), title=f"{scope}: {len(self.windows)} window(s)", metrics=self.charted
        )


def window_history(
    model: str,
    *,
    version: str | None = None,
    metrics: Sequence[str] = (),
    tracking_uri: str | None = None,
) -> WindowHistory:
    """The counting window results of ``model`` (every version, or ``version``), oldest first.

    ``metrics`` names what the inline view charts (default: the first of
    ``DEFAULT_CHART_METRICS`` the windows logged); every metric is in ``to_frame()``.
    """
    runs = MonitorRuns(tracking_uri)
    if version:
        runs.version(model, version)  # an unknown model or version is a RegistryError
        versions = [version]
    else:
        versions = [s.version for s in reversed(runs.versions(model))]
        if not versions:
            raise RegistryError(f"model {model!r}: no registered versions (is the name right?)")
    points = [p for v in versions for p in _points(runs, model, str(v))]
    points.sort(key=lambda p: (p.window_end, p.window_start or "", p.version))
    return WindowHistory(model, version, tuple(points), _charted(points, metrics))


def _points(runs: MonitorRuns, model: str, version: str) -> list[WindowPoint]:
    records = runs.window_records(model, version)
    settled = settle(attempt for attempt, _ in records)
    return [
        WindowPoint(model, version, a.window_start, a.window_end or "", a.health, a.run_id, metrics)
        for a, metrics in records
        if a.status == "FINISHED" and a.window_end and settled.counts(a.run_id)
    ]


def _charted(points: Sequence[WindowPoint], asked: Sequence[str]) -> tuple[str, ...]:
    if asked:
        return tuple(asked)
    logged = {name for p in points for name in p.metrics}
    return tuple(m for m in DEFAULT_CHART_METRICS if m in logged)[:_CHARTED]

"""One window judged against its baseline: statistics, check outcomes, metrics and health.

``evaluate_window`` is pure (frames and objects in, a ``WindowResult`` out): it profiles the window
on the baseline's bin edges, computes feature and prediction drift, performance (when labels are
present), data quality, segments and fairness, turns them into check outcomes with the spec's
thresholds (``checks``), and folds them into the window's health. The monitoring notebook calls
``load_inputs`` (the one I/O edge: spec, baseline directory, window file, history file) and then
``evaluate_window``; ``WindowResult.write`` produces ``results.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from mlflow_monitor import checks, data
from mlflow_monitor.baseline import Baseline, performance_of, profile_columns
from mlflow_monitor.checks import CheckOutcome, Health, MetricValue
from mlflow_monitor.results_json import outcomes_from_results
from mlflow_monitor.spec import MetricCheck, MonitorSpec, load_spec
from mlflow_monitor.stats.drift import DriftReport, compute_drift
from mlflow_monitor.stats.performance import PerformanceResult, default_checks
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.stats.quality import QualityReport, compute_quality
from mlflow_monitor.stats.segments import SegmentBaseline, SegmentReport, compute_segments

__all__ = [
    "RESULTS_FILE",
    "History",
    "WindowInputs",
    "WindowResult",
    "evaluate_window",
    "evaluate_window_from_files",
    "history_metrics",
    "load_inputs",
    "outcomes_from_results",
    "read_history",
    "write_history",
]

RESULTS_FILE = "results.json"
History = Mapping[str, Sequence[tuple[datetime, float]]]


@dataclass(frozen=True, eq=False)
class WindowResult:
    """Everything one window produced; ``to_dict`` is ``results.json``."""

    model: str
    model_version: str
    window_start: str | None
    window_end: str
    rows: int
    health: Health
    outcomes: tuple[CheckOutcome, ...]
    metrics: tuple[MetricValue, ...]
    drift: DriftReport
    prediction_drift: DriftReport | None
    performance: PerformanceResult | None
    quality: QualityReport
    segments: SegmentReport | None = None
    fairness: object | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failing(self) -> tuple[CheckOutcome, ...]:
        """Outcomes that are findings (warn, fail, error), worst first."""
        order = {"error": 0, "fail": 1, "warn": 2}
        found = [o for o in self.outcomes if o.firing]
        return tuple(sorted(found, key=lambda o: (order[o.status], o.check_id)))

    def outcomes_frame(self) -> pd.DataFrame:
        """The outcomes as a table (findings first), for display in the notebook."""
        rows = [
            {
                "check": o.check_id,
                "status": o.status,
                "severity": o.severity,
                "value": o.value,
                "threshold": _threshold_text(o),
                "message": o.message,
            }
            for o in (*self.failing, *(o for o in self.outcomes if not o.firing))
        ]
        return pd.DataFrame(
            rows, columns=["check", "status", "severity", "value", "threshold", "message"]
        )

    def metrics_frame(self) -> pd.DataFrame:
        """The metrics to be logged, as a two-column table."""
        return pd.DataFrame([(m.name, m.value) for m in self.metrics], columns=["metric", "value"])

    def to_dict(self) -> dict[str, object]:
        """JSON-safe results (non-finite numbers become null)."""
        body: dict[str, object] = {
            "schema_version": 1,
            "model": self.model,
            "model_version": self.model_version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "rows": self.rows,
            "health": self.health,
            "counts": _counts(self.outcomes),
            "outcomes": [asdict(o) for o in self.outcomes],
            "metrics": {m.name: m.value for m in self.metrics},
            "drift": self.drift.to_dict(),
            "prediction_drift": self.prediction_drift.to_dict() if self.prediction_drift else None,
            "performance": self.performance.to_dict() if self.performance else None,
            "quality": self.quality.to_dict(),
            "segments": _maybe_dict(self.segments),
            "fairness": _maybe_dict(self.fairness),
            "notes": list(self.notes),
        }
        return _json_safe(body)  # type: ignore[return-value]

    def write(self, output_dir: str | Path) -> Path:
        """Write ``results.json`` into ``output_dir``; returns its path."""
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / RESULTS_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))
        return path


@dataclass(frozen=True, eq=False)
class WindowInputs:
    """What a monitoring notebook loads: the spec, the baseline, the window's rows, history."""

    spec: MonitorSpec
    baseline: Baseline
    frame: pd.DataFrame
    window_start: datetime | None
    window_end: datetime
    history: History


def evaluate_window(
    spec: MonitorSpec,
    baseline: Baseline,
    frame: pd.DataFrame,
    *,
    model_version: str = "",
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    history: History | None = None,
) -> WindowResult:
    """Judge one window against ``baseline`` with the spec's thresholds (pure)."""
    start, end = data.window_bounds(spec, frame, window_start, window_end)
    profile = _profile(spec, baseline, frame)
    drift = _feature_drift(spec, baseline.profile, profile)
    prediction_drift = _prediction_drift(spec, baseline.profile, profile)
    performance = performance_of(spec, frame)
    quality = compute_quality(
        frame,
        baseline.profile,
        numerical=spec.columns.numerical,
        categorical=spec.columns.categorical,
    )
    segments = _segments(spec, baseline, frame)
    fairness = _fairness(spec, baseline, frame)
    outcomes = [
        *checks.drift_outcomes(drift, spec.drift),
        *(
            checks.drift_outcomes(
                prediction_drift, spec.drift, prefix="drift/prediction", share=False
            )
            if prediction_drift
            else []
        ),
        *checks.performance_outcomes(
            performance,
            baseline.performance,
            _performance_checks(spec),
            history=history or {},
            at=end,
        ),
        *checks.quality_outcomes(quality, spec.quality),
        *_segment_outcomes(spec, segments),
        *list(getattr(fairness, "outcomes", []) or []),
    ]
    metrics = _metrics(drift, prediction_drift, performance, quality, segments, fairness)
    return WindowResult(
        model=spec.model,
        model_version=model_version,
        window_start=data.iso(start) if start else None,
        window_end=data.iso(end),
        rows=len(frame),
        health=checks.health(outcomes),
        outcomes=tuple(outcomes),
        metrics=tuple(metrics),
        drift=drift,
        prediction_drift=prediction_drift,
        performance=performance,
        quality=quality,
        segments=segments,
        fairness=fairness,
        notes=baseline.notes,
    )


# -- steps ------------------------------------------------------------------------------------


def _profile(spec: MonitorSpec, baseline: Baseline, frame: pd.DataFrame) -> DatasetProfile:
    numerical, categorical = profile_columns(spec, list(frame.columns))
    known = set(baseline.profile.columns)
    return DatasetProfile.from_frame(
        frame,
        numerical=[c for c in numerical if c in known],
        categorical=[c for c in categorical if c in known],
        reference=baseline.profile,
    )


def _overrides(spec: MonitorSpec, names: list[str]) -> tuple[dict[str, str], dict[str, float]]:
    methods: dict[str, str] = {k: v for k, v in spec.drift.methods.items() if k in names}
    thresholds = {k: v for k, v in spec.drift.thresholds.items() if k in names}
    return methods, thresholds


def _feature_drift(
    spec: MonitorSpec, reference: DatasetProfile, current: DatasetProfile
) -> DriftReport:
    names = spec.columns.features
    methods, thresholds = _overrides(spec, names)
    return compute_drift(
        reference, current, names, method=spec.drift.method, methods=methods, thresholds=thresholds
    )


def _prediction_drift(
    spec: MonitorSpec, reference: DatasetProfile, current: DatasetProfile
) -> DriftReport | None:
    cols = spec.columns
    names = [c for c in (cols.prediction, cols.score) if c and c in current.columns]
    if not spec.drift.prediction or not names:
        return None
    methods, thresholds = _overrides(spec, names)
    return compute_drift(
        reference, current, names, method=spec.drift.method, methods=methods, thresholds=thresholds
    )


def _performance_checks(spec: MonitorSpec) -> list[MetricCheck]:
    return list(spec.performance.checks) or default_checks(spec.task)


def _segments(spec: MonitorSpec, baseline: Baseline, frame: pd.DataFrame) -> SegmentReport | None:
    if not spec.columns.segments or not isinstance(baseline.segments, SegmentBaseline):
        return None
    return compute_segments(
        frame,
        baseline.segments,
        min_size=spec.segments.min_size,
        metric=spec.segments.metric,
        drift_method=spec.drift.method,
        drift_methods=spec.drift.methods,
        drift_thresholds=spec.drift.thresholds,
    )


def _segment_outcomes(spec: MonitorSpec, report: SegmentReport | None) -> list[CheckOutcome]:
    return [] if report is None else checks.segment_outcomes(report, spec.segments)


def _fairness(spec: MonitorSpec, baseline: Baseline, frame: pd.DataFrame) -> object | None:
    """The fairness room's evaluation (``fairness.evaluate_fairness``), when present."""
    if not spec.columns.protected:
        return None
    try:
        from mlflow_monitor import fairness
    except ImportError:
        return None
    evaluate = getattr(fairness, "evaluate_fairness", None)
    return None if evaluate is None else evaluate(spec, baseline.fairness, frame)


def _metrics(
    drift: DriftReport,
    prediction_drift: DriftReport | None,
    performance: PerformanceResult | None,
    quality: QualityReport,
    segments: SegmentReport | None,
    fairness: object | None,
) -> list[MetricValue]:
    values: list[MetricValue] = []
    if performance is not None:
        values += [MetricValue(f"perf/{k}", v) for k, v in performance.metrics.items()]
    for report in (drift, prediction_drift):
        if report is None:
            continue
        values += [
            MetricValue(f"drift/{c.column}/{c.method}", c.score)
            for c in report.columns
            if c.status == "ok" and c.score is not None
        ]
    if drift.status == "ok":
        values.append(MetricValue("drift/share_drifted", drift.share_drifted))
    values += [MetricValue(k, v) for k, v in quality.metrics().items()]
    if segments is not None:
        values += [MetricValue(k, v) for k, v in segments.metrics().items()]
    values += list(getattr(fairness, "metrics", []) or [])
    return [m for m in values if isinstance(m.value, (int, float)) and math.isfinite(m.value)]


# -- files: the notebook's edge -----------------------------------------------------------------


def load_inputs(
    spec_path: str,
    current_path: str,
    baseline_dir: str,
    window_start: str = "",
    window_end: str = "",
    history_path: str = "",
) -> WindowInputs:
    """Load the spec, the baseline, the window's rows (``[start, end)``) and the metric history."""
    spec = load_spec(spec_path)
    baseline = Baseline.load(baseline_dir)
    start = data.parse_time(window_start, "window-start")
    end = data.parse_time(window_end, "window-end")
    frame = data.load_window(spec, current_path, start, end)
    start, end_ = data.window_bounds(spec, frame, start, end)
    return WindowInputs(spec, baseline, frame, start, end_, read_history(history_path))


def evaluate_window_from_files(
    spec_path: str,
    model_version: str,
    current_path: str,
    baseline_dir: str,
    window_start: str = "",
    window_end: str = "",
    history_path: str = "",
) -> WindowResult:
    """``load_inputs`` then ``evaluate_window`` (what ``monitor.ipynb`` runs)."""
    inputs = load_inputs(
        spec_path, current_path, baseline_dir, window_start, window_end, history_path
    )
    return evaluate_window(
        inputs.spec,
        inputs.baseline,
        inputs.frame,
        model_version=model_version,
        window_start=inputs.window_start,
        window_end=inputs.window_end,
        history=inputs.history,
    )


def history_metrics(spec: MonitorSpec) -> list[str]:
    """Contract names of the metrics whose checks use history (what to read from MLflow)."""
    return [f"perf/{c.metric}" for c in _performance_checks(spec) if c.history is not None]


def write_history(history: History, path: Path) -> Path:
    """Write ``{metric: [[iso time, value], ...]}`` for the notebook to read back."""
    body = {k: [[t.isoformat(), v] for t, v in points] for k, points in history.items()}
    path.write_text(json.dumps(body))
    return path


def read_history(path: str) -> dict[str, list[tuple[datetime, float]]]:
    """Inverse of ``write_history``; an empty path means no history."""
    if not path:
        return {}
    raw = json.loads(Path(path).read_text())
    return {
        k: [(datetime.fromisoformat(t), float(v)) for t, v in points] for k, points in raw.items()
    }


# -- helpers ---------------------------------------------------------------------------------


def _threshold_text(outcome: CheckOutcome) -> str:
    t = outcome.threshold
    if t is None:
        return ""
    low = f"{t.lower:.4g}" if t.lower is not None else "-inf"
    high = f"{t.upper:.4g}" if t.upper is not None else "+inf"
    return f"[{low}, {high}] ({t.source})"


def _counts(outcomes: Sequence[CheckOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


def _maybe_dict(value: object | None) -> object | None:
    to_dict = getattr(value, "to_dict", None)
    return None if to_dict is None else to_dict()


def _json_safe(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value

"""What an estimation returns: metrics with intervals, the expected confusion, assumption checks.

Every type has ``to_dict`` / ``from_dict`` (JSON-safe: no NaN, no numpy scalars) so a window's
estimate can be stored and compared with the realized metrics once the labels arrive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.intervals import z_value

__all__ = ["EstimateTask", "EstimatedMetric", "PerformanceEstimate", "normal_metric"]

EstimateTask = Literal["binary_classification", "multiclass_classification", "regression"]


@dataclass(frozen=True)
class EstimatedMetric:
    """One estimated metric of a window: its value and interval at ``level``.

    ``standard_error`` is the estimator's (``method`` says which), ``low``/``high`` the interval
    (normal, clipped to the metric's range), ``denominator`` the expected count the metric is a
    rate over (expected positives for recall, predicted positives for precision, rows for
    accuracy and ROC AUC ...; fractional because it is an expectation).
    """

    metric: str
    value: float
    low: float
    high: float
    level: float
    standard_error: float
    denominator: float
    method: str

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "metric": self.metric,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "standard_error": self.standard_error,
            "denominator": self.denominator,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> EstimatedMetric:
        """Inverse of ``to_dict``; a malformed mapping is a ``DataError`` naming the key."""
        return cls(
            metric=str(data.get("metric", "")),
            value=_number(data, "value"),
            low=_number(data, "low"),
            high=_number(data, "high"),
            level=_number(data, "level"),
            standard_error=_number(data, "standard_error"),
            denominator=_number(data, "denominator"),
            method=str(data.get("method", "")),
        )


def normal_metric(
    metric: str,
    value: float,
    variance: float,
    *,
    level: float,
    denominator: float,
    method: str,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> EstimatedMetric:
    """``value`` +/- z x sqrt(``variance``), clipped to ``bounds`` (None: unbounded)."""
    se = math.sqrt(max(variance, 0.0))
    half = z_value(level) * se
    low, high = value - half, value + half
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return EstimatedMetric(
        metric, float(value), float(low), float(high), level, se, float(denominator), method
    )


@dataclass(frozen=True)
class PerformanceEstimate:
    """Estimated performance of one window without its labels.

    ``metrics`` by name (``accuracy``, ``precision``, ``recall``, ``f1``, ``specificity``,
    ``roc_auc``, ``positive_rate``; multiclass the macro averages; regression ``mae``, ``rmse``);
    ``expected_confusion`` the expected counts (binary ``tp``/``fp``/``tn``/``fn``; multiclass
    ``true=<a>,pred=<b>``; regression empty). Assumption checks: ``coverage_share`` the share of
    the window's rows whose score lies where the reference had enough rows,
    ``reference_calibration_error`` the held-out ECE of the calibrated reference (regression:
    the loss model's relative MAE error on held-out reference rows), ``trustworthy`` both
    within their bounds, ``notes`` one line each on what is not.
    """

    task: EstimateTask
    rows: int
    level: float
    metrics: dict[str, EstimatedMetric] = field(default_factory=dict)
    expected_confusion: dict[str, float] = field(default_factory=dict)
    coverage_share: float = 1.0
    reference_calibration_error: float = 0.0
    trustworthy: bool = True
    notes: tuple[str, ...] = ()

    def value(self, metric: str) -> float | None:
        """The estimated value of ``metric``, or None when it was not estimated."""
        found = self.metrics.get(metric)
        return None if found is None else found.value

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "task": self.task,
            "rows": self.rows,
            "level": self.level,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "expected_confusion": dict(self.expected_confusion),
            "coverage_share": self.coverage_share,
            "reference_calibration_error": self.reference_calibration_error,
            "trustworthy": self.trustworthy,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PerformanceEstimate:
        """Inverse of ``to_dict``; a malformed mapping is a ``DataError`` naming the key."""
        task = data.get("task")
        if task not in ("binary_classification", "multiclass_classification", "regression"):
            raise DataError(f"estimate.task: unknown task {task!r}")
        metrics = data.get("metrics", {})
        confusion = data.get("expected_confusion", {})
        notes = data.get("notes", [])
        rows = data.get("rows")
        if not isinstance(metrics, Mapping) or not isinstance(confusion, Mapping):
            raise DataError("estimate.metrics / expected_confusion: expected mappings")
        if not isinstance(notes, list) or not isinstance(rows, int):
            raise DataError("estimate.notes / rows: expected a list and an integer")
        return cls(
            task=task,
            rows=rows,
            level=_number(data, "level"),
            metrics={str(k): EstimatedMetric.from_dict(v) for k, v in metrics.items()},
            expected_confusion={str(k): float(v) for k, v in confusion.items()},
            coverage_share=_number(data, "coverage_share"),
            reference_calibration_error=_number(data, "reference_calibration_error"),
            trustworthy=bool(data.get("trustworthy")),
            notes=tuple(str(n) for n in notes),
        )


def _number(data: Mapping[str, object], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise DataError(f"estimate.{key}: expected a number, got {value!r}")
    return float(value)

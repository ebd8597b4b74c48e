"""Segment-level degradation: performance and drift per value of each segment column.

Baseline side (``reference_segments``): per segment value, its rows, its ``PerformanceResult``
and a ``DatasetProfile`` of the features (the segment column itself left out: it is constant
inside a segment). Window side (``compute_segments``): the same per segment of the window, the
metric's change against the segment's baseline value, and the share of drifted features,
ranked worst degradation first.

Segment values are keyed by their string form (``1.0`` as ``1``, missing as ``(missing)``), so
a baseline read back from JSON matches the window. Rows are split once per segment column with
``pd.factorize`` + one stable argsort (no loop over rows); loops run over segment values only.
A baseline keeps the ``max_values`` largest segments per column. Segment profiles use
``bins=10`` (100 fine bins) and keep exact value counts only for columns with at most 20
distinct values: a 50-segment baseline of 20 features stays near 5 MB of JSON instead of
~400 MB with the full-resolution profiles, at the cost of histogram-based (not exact) KS and
Wasserstein inside segments (bounded by the largest bin mass, 1 % of the segment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import Task
from mlflow_monitor.stats.drift import compute_drift
from mlflow_monitor.stats.performance import (
    PerformanceResult,
    compute_performance,
    default_metric,
    higher_is_better,
)
from mlflow_monitor.stats.profile import ColumnProfile, DatasetProfile, NumericProfile

__all__ = [
    "MISSING_SEGMENT",
    "SegmentBaseline",
    "SegmentReference",
    "SegmentReport",
    "SegmentResult",
    "SegmentRoles",
    "compute_segments",
    "reference_segments",
    "segment_key",
]

MISSING_SEGMENT = "(missing)"
SegmentStatus = Literal["ok", "insufficient_data"]
Label = str | int | float | bool
_EXACT_DISTINCT_CAP = 20


@dataclass(frozen=True)
class SegmentRoles:
    """Which columns play which role; stored with the baseline so the window uses the same."""

    task: Task
    segment_columns: tuple[str, ...]
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str | None = None
    prediction: str | None = None
    score: str | None = None
    probabilities: tuple[str, ...] = ()
    classes: tuple[Label, ...] | None = None
    positive_label: Label | None = None
    threshold: float = 0.5

    def features(self, segment_column: str) -> tuple[list[str], list[str]]:
        """Numerical and categorical features profiled inside a segment of ``segment_column``."""
        numerical = [c for c in self.numerical if c != segment_column]
        return numerical, [c for c in self.categorical if c != segment_column]

    def to_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "segment_columns": list(self.segment_columns),
            "numerical": list(self.numerical),
            "categorical": list(self.categorical),
            "target": self.target,
            "prediction": self.prediction,
            "score": self.score,
            "probabilities": list(self.probabilities),
            "classes": None if self.classes is None else list(self.classes),
            "positive_label": self.positive_label,
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SegmentRoles:
        task = data.get("task")
        if task not in ("binary_classification", "multiclass_classification", "regression"):
            raise DataError(f"segments.roles.task: unknown task {task!r}")
        classes = data.get("classes")
        return cls(
            task=task,
            segment_columns=_names(data, "segment_columns"),
            numerical=_names(data, "numerical"),
            categorical=_names(data, "categorical"),
            target=_optional_str(data.get("target")),
            prediction=_optional_str(data.get("prediction")),
            score=_optional_str(data.get("score")),
            probabilities=_names(data, "probabilities"),
            classes=None if classes is None else tuple(_labels(classes, "classes")),
            positive_label=_label(data.get("positive_label"), "positive_label"),
            threshold=float(str(data.get("threshold", 0.5))),
        )


@dataclass(frozen=True)
class SegmentReference:
    """One segment of the reference: its rows, performance and feature profile."""

    column: str
    segment: str
    rows: int
    performance: PerformanceResult
    profile: DatasetProfile

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "segment": self.segment,
            "rows": self.rows,
            "performance": self.performance.to_dict(),
            "profile": self.profile.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SegmentReference:
        performance, profile = data.get("performance"), data.get("profile")
        if not isinstance(performance, Mapping) or not isinstance(profile, Mapping):
            raise DataError("segments.segments: each needs 'performance' and 'profile' mappings")
        return cls(
            column=str(data.get("column")),
            segment=str(data.get("segment")),
            rows=_int(data, "rows"),
            performance=PerformanceResult.from_dict(performance),
            profile=DatasetProfile.from_dict(profile),
        )


@dataclass(frozen=True)
class SegmentBaseline:
    """Reference segments of every segment column, and how many smaller values were left out."""

    roles: SegmentRoles
    segments: tuple[SegmentReference, ...]
    left_out: Mapping[str, int]
    max_values: int = 50
    bins: int = 10

    def get(self, column: str, segment: str) -> SegmentReference | None:
        for reference in self.segments:
            if reference.column == column and reference.segment == segment:
                return reference
        return None

    def of_column(self, column: str) -> tuple[SegmentReference, ...]:
        return tuple(s for s in self.segments if s.column == column)

    def to_dict(self) -> dict[str, object]:
        return {
            "roles": self.roles.to_dict(),
            "segments": [s.to_dict() for s in self.segments],
            "left_out": dict(self.left_out),
            "max_values": self.max_values,
            "bins": self.bins,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SegmentBaseline:
        roles, segments, left_out = data.get("roles"), data.get("segments"), data.get("left_out")
        if not isinstance(roles, Mapping) or not isinstance(segments, list):
            raise DataError("segments: 'roles' must be a mapping and 'segments' a list")
        if not isinstance(left_out, Mapping):
            raise DataError("segments.left_out: expected a mapping")
        return cls(
            roles=SegmentRoles.from_dict(roles),
            segments=tuple(SegmentReference.from_dict(s) for s in segments),
            left_out=MappingProxyType({str(k): int(str(v)) for k, v in left_out.items()}),
            max_values=_int(data, "max_values"),
            bins=_int(data, "bins"),
        )


@dataclass(frozen=True)
class SegmentResult:
    """One segment of the window against its baseline.

    ``value``/``baseline_value`` are the metric; ``change`` is value - baseline and
    ``degradation`` the change oriented so that positive is worse (a rise in RMSE, a drop in
    ROC AUC). ``reference_rows`` is None for a segment the reference did not have.
    """

    column: str
    segment: str
    rows: int
    reference_rows: int | None
    status: SegmentStatus
    metric: str
    value: float | None = None
    baseline_value: float | None = None
    change: float | None = None
    degradation: float | None = None
    share_drifted: float | None = None
    labelled_rows: int = 0
    note: str = ""

    @property
    def is_new(self) -> bool:
        return self.reference_rows is None

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "segment": self.segment,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "status": self.status,
            "metric": self.metric,
            "value": self.value,
            "baseline_value": self.baseline_value,
            "change": self.change,
            "degradation": self.degradation,
            "share_drifted": self.share_drifted,
            "labelled_rows": self.labelled_rows,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SegmentResult:
        status = data.get("status")
        if status not in ("ok", "insufficient_data"):
            raise DataError(f"segment result: unknown status {status!r}")
        reference_rows = data.get("reference_rows")
        return cls(
            column=str(data.get("column")),
            segment=str(data.get("segment")),
            rows=_int(data, "rows"),
            reference_rows=None if reference_rows is None else int(str(reference_rows)),
            status=status,
            metric=str(data.get("metric")),
            value=_optional_float(data.get("value")),
            baseline_value=_optional_float(data.get("baseline_value")),
            change=_optional_float(data.get("change")),
            degradation=_optional_float(data.get("degradation")),
            share_drifted=_optional_float(data.get("share_drifted")),
            labelled_rows=_int(data, "labelled_rows"),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class SegmentReport:
    """Every segment of the window, worst degradation first, then the rest (see ``_rank_key``)."""

    metric: str
    min_size: int
    results: tuple[SegmentResult, ...]
    notes: tuple[str, ...] = ()

    @property
    def worst(self) -> SegmentResult | None:
        return self.results[0] if self.results else None

    def metrics(self) -> dict[str, float]:
        """Values to log: ``segment/<column>=<value>/<metric>``, ``.../share_drifted``, rows."""
        values: dict[str, float] = {}
        for r in self.results:
            prefix = f"segment/{r.column}={r.segment}"
            values[f"{prefix}/rows"] = float(r.rows)
            if r.value is not None:
                values[f"{prefix}/{r.metric}"] = r.value
            if r.share_drifted is not None:
                values[f"{prefix}/share_drifted"] = r.share_drifted
        return values

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "min_size": self.min_size,
            "results": [r.to_dict() for r in self.results],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SegmentReport:
        results, notes = data.get("results"), data.get("notes", [])
        if not isinstance(results, list) or not isinstance(notes, list):
            raise DataError("segment report: 'results' and 'notes' must be lists")
        return cls(
            metric=str(data.get("metric")),
            min_size=_int(data, "min_size"),
            results=tuple(SegmentResult.from_dict(r) for r in results),
            notes=tuple(str(n) for n in notes),
        )


# -- baseline side ------------------------------------------------------------------------------


def reference_segments(
    frame: pd.DataFrame,
    *,
    task: Task,
    segment_columns: Sequence[str],
    target: str | None,
    prediction: str | None,
    score: str | None = None,
    probabilities: Sequence[str] = (),
    numerical: Sequence[str],
    categorical: Sequence[str],
    positive_label: Label | None = None,
    classes: Sequence[Label] | None = None,
    max_values: int = 50,
    bins: int = 10,
    threshold: float = 0.5,
) -> SegmentBaseline:
    """Per segment value of each segment column: rows, performance and feature profile.

    With ``probabilities`` and no ``classes``, the classes are the sorted labels of the whole
    reference, so every segment's probability columns mean the same classes. ``threshold``
    turns a score into a prediction when there is no prediction column.
    """
    _require(frame, [*segment_columns])
    if probabilities and classes is None:
        classes = _reference_classes(frame, target, prediction, len(probabilities))
    roles = SegmentRoles(
        task, tuple(segment_columns), tuple(numerical), tuple(categorical), target,
        prediction, score, tuple(probabilities),
        None if classes is None else tuple(_json_label(c) for c in classes), positive_label,
        threshold,
    )  # fmt: skip
    segments: list[SegmentReference] = []
    left_out: dict[str, int] = {}
    for column in segment_columns:
        groups = _split(frame[column])
        kept = sorted(groups, key=lambda key: (-groups[key].size, key))[:max_values]
        left_out[column] = len(groups) - len(kept)
        for key in kept:
            part = frame.iloc[groups[key]]
            segments.append(_reference_segment(part, column, key, roles, bins))
    return SegmentBaseline(roles, tuple(segments), MappingProxyType(left_out), max_values, bins)


def _reference_segment(
    part: pd.DataFrame, column: str, key: str, roles: SegmentRoles, bins: int
) -> SegmentReference:
    numerical, categorical = roles.features(column)
    profile = DatasetProfile.from_frame(
        part, numerical=numerical, categorical=categorical, bins=bins
    )
    return SegmentReference(column, key, len(part), _performance(part, roles), _compact(profile))


def _compact(profile: DatasetProfile) -> DatasetProfile:
    """Drop exact value counts of continuous columns (see the module docstring for the size)."""
    columns: dict[str, ColumnProfile] = {}
    for name, column in profile.columns.items():
        exact = column.exact if isinstance(column, NumericProfile) else None
        if isinstance(column, NumericProfile) and exact and exact.distinct > _EXACT_DISTINCT_CAP:
            column = replace(column, exact=None)
        columns[name] = column
    return replace(profile, columns=MappingProxyType(columns))


def _reference_classes(
    frame: pd.DataFrame, target: str | None, prediction: str | None, width: int
) -> list[Label]:
    labels = [frame[c].dropna() for c in (target, prediction) if c and c in frame.columns]
    found = pd.unique(pd.concat(labels)) if labels else []
    try:
        classes = sorted(_json_label(v) for v in found)
    except TypeError:
        classes = [_json_label(v) for v in found]
    if len(classes) != width:
        raise DataError(
            f"columns.probabilities: {width} columns but {len(classes)} labels in "
            f"{target!r}/{prediction!r}; pass classes in the order of the columns"
        )
    return classes


# -- window side --------------------------------------------------------------------------------


def compute_segments(
    frame: pd.DataFrame,
    baseline: SegmentBaseline,
    *,
    min_size: int = 100,
    metric: str | None = None,
    drift_method: str = "auto",
    drift_methods: Mapping[str, str] | None = None,
    drift_thresholds: Mapping[str, float] | None = None,
) -> SegmentReport:
    """Every segment of the window against the baseline, ranked worst degradation first.

    A segment with fewer than ``min_size`` rows (in the window or in the reference) is
    ``insufficient_data`` with the counts in its note; a segment the reference did not have is
    reported with no baseline value; a baseline segment absent from the window has 0 rows.
    """
    roles = baseline.roles
    _require(frame, list(roles.segment_columns))
    chosen = metric or default_metric(roles.task, has_score=roles.score is not None)
    drift = _DriftSettings(drift_method, dict(drift_methods or {}), dict(drift_thresholds or {}))
    results: list[SegmentResult] = []
    notes: list[str] = []
    for column in roles.segment_columns:
        groups = _split(frame[column])
        keys, note = _window_keys(groups, baseline, column)
        notes.extend([note] if note else [])
        for key in keys:
            part = frame.iloc[groups.get(key, np.empty(0, dtype=np.int64))]
            segment = _Segment(column, key, part, baseline.get(column, key))
            results.append(_evaluate(segment, roles, chosen, min_size, drift))
    return SegmentReport(chosen, min_size, tuple(sorted(results, key=_rank_key)), tuple(notes))


@dataclass(frozen=True)
class _DriftSettings:
    method: str
    methods: dict[str, str]
    thresholds: dict[str, float]


@dataclass(frozen=True)
class _Segment:
    column: str
    key: str
    frame: pd.DataFrame
    reference: SegmentReference | None


def _window_keys(
    groups: Mapping[str, np.ndarray], baseline: SegmentBaseline, column: str
) -> tuple[list[str], str]:
    """Baseline segments first, then the largest new values (at most ``max_values`` of them)."""
    known = [s.segment for s in baseline.of_column(column)]
    new = sorted((k for k in groups if k not in set(known)), key=lambda k: (-groups[k].size, k))
    shown = new[: baseline.max_values]
    note = ""
    if len(new) > len(shown):
        note = f"{column}: {len(new) - len(shown)} more new segment values not reported"
    return known + shown, note


def _evaluate(
    segment: _Segment, roles: SegmentRoles, metric: str, min_size: int, drift: _DriftSettings
) -> SegmentResult:
    rows, ref = len(segment.frame), segment.reference
    base = SegmentResult(
        segment.column, segment.key, rows, None if ref is None else ref.rows,
        "insufficient_data", metric,
        baseline_value=None if ref is None else ref.performance.get(metric),
    )  # fmt: skip
    too_small = _too_small(rows, ref, min_size)
    if too_small:
        return replace(base, note=too_small)
    performance = _performance(segment.frame, roles, only=(metric,))
    value, notes = _metric_value(performance, metric, min_size)
    if ref is None:
        notes.insert(0, "new segment: not in the reference")
    share = None if ref is None else _share_drifted(segment, ref, roles, drift, notes)
    change = None if value is None or base.baseline_value is None else value - base.baseline_value
    return replace(
        base, status="ok", value=value, change=change, degradation=_degradation(metric, change),
        share_drifted=share, labelled_rows=performance.labelled_rows, note="; ".join(notes),
    )  # fmt: skip


def _too_small(rows: int, ref: SegmentReference | None, min_size: int) -> str:
    if rows < min_size:
        return f"{rows} rows in the window, below min_size {min_size}"
    if ref is not None and ref.rows < min_size:
        return f"{ref.rows} rows in the reference, below min_size {min_size}"
    return ""


def _metric_value(
    performance: PerformanceResult, metric: str, min_size: int
) -> tuple[float | None, list[str]]:
    if performance.labelled_rows < min_size:
        return None, [f"{performance.labelled_rows} labelled rows, below min_size {min_size}"]
    value = performance.get(metric)
    if value is None:
        return None, [f"{metric} undefined: {performance.note or 'not computed for this task'}"]
    return value, []


def _share_drifted(
    segment: _Segment,
    ref: SegmentReference,
    roles: SegmentRoles,
    drift: _DriftSettings,
    notes: list[str],
) -> float | None:
    numerical, categorical = roles.features(segment.column)
    features = [*numerical, *categorical]
    if not features:
        return None
    current = DatasetProfile.from_frame(
        segment.frame, numerical=numerical, categorical=categorical, reference=ref.profile
    )
    report = compute_drift(
        ref.profile,
        current,
        features,
        method=drift.method,
        methods={k: v for k, v in drift.methods.items() if k in features},
        thresholds={k: v for k, v in drift.thresholds.items() if k in features},
    )
    if report.status != "ok":
        notes.append("drift: no feature could be evaluated")
        return None
    return report.share_drifted


def _degradation(metric: str, change: float | None) -> float | None:
    if change is None:
        return None
    return -change if higher_is_better(metric) else change


def _rank_key(result: SegmentResult) -> tuple[int, int, float, float, str, str]:
    """Evaluated before insufficient; measured degradation first, worst first; then drift."""
    return (
        result.status != "ok",
        result.degradation is None,
        -(result.degradation or 0.0),
        -(result.share_drifted or 0.0),
        result.column,
        result.segment,
    )


# -- shared helpers -----------------------------------------------------------------------------


def _performance(
    frame: pd.DataFrame, roles: SegmentRoles, only: tuple[str, ...] | None = None
) -> PerformanceResult:
    """Performance of one segment (``only``: those metrics); no target column means no labels."""
    if roles.target and roles.target in frame.columns:
        truth = frame[roles.target]
    else:
        truth = pd.Series(np.full(len(frame), np.nan), name=roles.target or "target")
    return compute_performance(
        roles.task,
        truth,
        frame[roles.prediction] if roles.prediction else None,
        y_score=frame[roles.score] if roles.score else None,
        probabilities=frame[list(roles.probabilities)] if roles.probabilities else None,
        classes=roles.classes,
        positive_label=roles.positive_label,
        threshold=roles.threshold,
        only=only,
    )


def _split(series: pd.Series) -> dict[str, np.ndarray]:
    """Row positions of each segment value, keyed by its string form (one factorize + sort)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    present, starts = np.unique(codes[order], return_index=True)
    parts = np.split(order, starts[1:])
    groups: dict[str, np.ndarray] = {}
    for code, positions in zip(present, parts, strict=True):
        key = MISSING_SEGMENT if code < 0 else segment_key(uniques[code])
        previous = groups.get(key)
        groups[key] = positions if previous is None else np.sort(np.r_[previous, positions])
    return groups


def segment_key(value: object) -> str:
    """String form of a segment value: integral floats without ``.0`` (``1.0`` -> ``1``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _require(frame: pd.DataFrame, columns: list[str]) -> None:
    for name in columns:
        if name not in frame.columns:
            raise DataError(f"segment column {name!r} is missing from the data")


def _json_label(value: object) -> Label:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _label(value: object, key: str) -> Label | None:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise DataError(f"segments.roles.{key}: expected a string or number, got {value!r}")


def _labels(values: object, key: str) -> list[Label]:
    if not isinstance(values, list):
        raise DataError(f"segments.roles.{key}: expected a list")
    labels = [_label(v, key) for v in values]
    return [v for v in labels if v is not None]


def _names(data: Mapping[str, object], key: str) -> tuple[str, ...]:
    values = data.get(key, [])
    if not isinstance(values, list):
        raise DataError(f"segments.roles.{key}: expected a list of column names")
    return tuple(str(v) for v in values)


def _int(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int):
        raise DataError(f"segments.{key}: expected an integer, got {value!r}")
    return value


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_float(value: object) -> float | None:
    return None if value is None else float(str(value))

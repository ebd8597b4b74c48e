"""Segment-level degradation: performance and drift per value of each segment column.

Baseline side (``reference_segments``): per segment value, its rows, its ``PerformanceResult``
and a ``DatasetProfile`` of the features (the segment column itself left out: it is constant
inside a segment). Window side (``compute_segments``): the same per segment of the window, the
metric's change against the segment's baseline value, and the share of drifted features,
ranked worst degradation first. Judging takes each segment's statistics, not its rows
(``SegmentStatistics``: rows, performance, features profiled on the reference segment's edges;
``judge_segments``): the pandas path computes them per segment of its frame, a partitioned
engine merges ``SegmentCounts`` (binary classification) and finishes them the same way.

Segment values are keyed by their string form (``1.0`` as ``1``, missing as ``(missing)``), so
a baseline read back from JSON matches the window. Rows are split once per segment column with
``pd.factorize`` + one stable argsort (no loop over rows); loops run over segment values only.
A baseline keeps the ``max_values`` largest segments per column. Segment profiles use
``bins=10`` (100 fine bins) and keep exact value counts only for columns with at most 20
distinct values: a 50-segment baseline of 20 features stays near 5 MB of JSON instead of
~400 MB with the full-resolution profiles, at the cost of histogram-based (not exact) KS and
Wasserstein inside segments (bounded by the largest bin mass, 1 % of the segment).

Noise: a segment's metric moves by chance, more the smaller the segment (ROC AUC on 250 rows
has a standard error near 0.03), so each result carries what the drop's confidence interval
needs (``MetricSpread``): the window side's standard error from the segment's rows
(``PerformanceResult.standard_errors``: DeLong for ROC AUC, Wilson-centred for rates, the mean's
for MAE/RMSE/losses) and the baseline side's, as stored with the baseline (new baselines: their
own DeLong / Wilson / mean standard error and class counts). A baseline written before these
were stored (older release) gets Hanley-McNeil's for ROC AUC from the AUC and the class counts
its confusion counts give (tp + fn positives, tn + fp negatives), else (``scaled``) the window's
standard error times sqrt(window / reference labelled rows): the same per-row spread assumed.
For a classification metric each class needs ``min_class_size`` labelled rows in the window and
in the reference (the reference's counts when known), else the segment is ``insufficient_data``
with the counts in its note (its value and drift are still reported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import Task
from mlflow_monitor.stats.drift import compute_drift
from mlflow_monitor.stats.intervals import hanley_mcneil_auc
from mlflow_monitor.stats.performance import (
    BinaryCounts,
    PerformanceResult,
    compute_performance,
    default_metric,
    higher_is_better,
    standard_error_method,
)
from mlflow_monitor.stats.profile import ColumnProfile, DatasetProfile, NumericProfile

__all__ = [
    "MISSING_SEGMENT",
    "MetricSpread",
    "SegmentBaseline",
    "SegmentCounts",
    "SegmentReference",
    "SegmentReport",
    "SegmentResult",
    "SegmentRoles",
    "SegmentStatistics",
    "compute_segments",
    "judge_segments",
    "merge_segment_counts",
    "reference_segments",
    "segment_counts",
    "segment_key",
    "segments_from_counts",
    "window_profile",
    "window_segment_keys",
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
class MetricSpread:
    """A segment metric's standard error, how it was had, and the counts it rests on.

    ``method``: ``delong``, ``hanley_mcneil``, ``wilson`` (a rate over ``denominator``),
    ``normal`` (a mean over rows), ``scaled`` (an older baseline: see the module docstring), or
    ``""`` when the metric has none (PR AUC, R²). ``classes`` are labelled rows per class
    (``positives``/``negatives`` for a binary task), empty when not known.
    """

    standard_error: float | None
    method: str
    denominator: int
    classes: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "standard_error": self.standard_error,
            "method": self.method,
            "denominator": self.denominator,
            "classes": dict(self.classes),
        }

    @classmethod
    def from_dict(cls, data: object) -> MetricSpread | None:
        if not isinstance(data, Mapping):
            return None
        classes = data.get("classes") or {}
        if not isinstance(classes, Mapping):
            raise DataError("segment result: 'classes' must be a mapping")
        return cls(
            standard_error=_optional_float(data.get("standard_error")),
            method=str(data.get("method") or ""),
            denominator=_int(data, "denominator"),
            classes={str(k): int(str(v)) for k, v in classes.items()},
        )


@dataclass(frozen=True)
class SegmentResult:
    """One segment of the window against its baseline.

    ``value``/``baseline_value`` are the metric; ``change`` is value - baseline and
    ``degradation`` the change oriented so that positive is worse (a rise in RMSE, a drop in
    ROC AUC). ``reference_rows`` is None for a segment the reference did not have.
    ``spread``/``baseline_spread`` hold each side's standard error and counts (None when the
    side has no value).
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
    spread: MetricSpread | None = None
    baseline_spread: MetricSpread | None = None

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
            "spread": None if self.spread is None else self.spread.to_dict(),
            "baseline_spread": (
                None if self.baseline_spread is None else self.baseline_spread.to_dict()
            ),
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
            spread=MetricSpread.from_dict(data.get("spread")),
            baseline_spread=MetricSpread.from_dict(data.get("baseline_spread")),
        )


@dataclass(frozen=True)
class SegmentReport:
    """Every segment of the window, worst degradation first, then the rest (see ``_rank_key``).

    ``level`` is the confidence level the verdicts judge the drops at (the spec's
    ``confidence_level``); ``min_class_size`` the minimum labelled rows per class.
    """

    metric: str
    min_size: int
    results: tuple[SegmentResult, ...]
    notes: tuple[str, ...] = ()
    min_class_size: int = 1
    level: float = 0.95

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
            "min_class_size": self.min_class_size,
            "level": self.level,
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
            min_class_size=int(str(data.get("min_class_size", 1))),
            level=float(str(data.get("level", 0.95))),
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
    min_class_size: int = 20,
    metric: str | None = None,
    level: float = 0.95,
    drift_method: str = "auto",
    drift_methods: Mapping[str, str] | None = None,
    drift_thresholds: Mapping[str, float] | None = None,
    drift_min_effect: float = 0.0,
) -> SegmentReport:
    """Every segment of the window against the baseline, ranked worst degradation first.

    A segment with fewer than ``min_size`` rows (in the window or in the reference) is
    ``insufficient_data`` with the counts in its note, and so is a classification segment with a
    class below ``min_class_size`` labelled rows; a segment the reference did not have is
    reported with no baseline value; a baseline segment absent from the window has 0 rows.
    ``level`` is recorded for the verdicts; ``drift_min_effect`` is ``compute_drift``'s.
    The frame is split, each reported segment's statistics computed (``SegmentStatistics``:
    its performance and feature profile only when it is large enough to be judged), then judged
    by ``judge_segments``, the Spark engine's entry too.
    """
    roles = baseline.roles
    _require(frame, list(roles.segment_columns))
    chosen = metric or default_metric(roles.task, has_score=roles.score is not None)
    statistics: dict[tuple[str, str], SegmentStatistics] = {}
    notes: list[str] = []
    for column in roles.segment_columns:
        groups = _split(frame[column])
        keys, note = window_segment_keys(baseline, column, {k: v.size for k, v in groups.items()})
        notes.extend([note] if note else [])
        for key in keys:
            positions = groups.get(key, np.empty(0, dtype=np.int64))
            reference = baseline.get(column, key)
            if _too_small(positions.size, reference, min_size):
                statistics[(column, key)] = SegmentStatistics(int(positions.size))
                continue
            part = frame.iloc[positions]
            statistics[(column, key)] = SegmentStatistics(
                len(part),
                _performance(part, roles, only=(chosen,)),
                None if reference is None else window_profile(part, column, reference, roles),
            )
    return judge_segments(
        baseline,
        statistics,
        notes=notes,
        min_size=min_size,
        min_class_size=min_class_size,
        metric=chosen,
        level=level,
        drift_method=drift_method,
        drift_methods=drift_methods,
        drift_thresholds=drift_thresholds,
        drift_min_effect=drift_min_effect,
    )


@dataclass(frozen=True)
class SegmentStatistics:
    """What judging one segment of a window needs, whichever engine computed it.

    ``rows``; ``performance`` (``None``: not computed, the segment being too small to judge);
    ``profile``: the segment's features profiled on its reference segment's edges
    (``window_profile``; ``None`` for a new segment, or one too small).
    """

    rows: int
    performance: PerformanceResult | None = None
    profile: DatasetProfile | None = None


def window_profile(
    part: pd.DataFrame, column: str, reference: SegmentReference, roles: SegmentRoles
) -> DatasetProfile | None:
    """The segment's features profiled on ``reference``'s edges (``None``: no feature)."""
    numerical, categorical = roles.features(column)
    if not numerical and not categorical:
        return None
    return DatasetProfile.from_frame(
        part, numerical=numerical, categorical=categorical, reference=reference.profile
    )


def window_segment_keys(
    baseline: SegmentBaseline, column: str, sizes: Mapping[str, int]
) -> tuple[list[str], str]:
    """The segments of ``column`` reported, and the note of new values left out.

    ``sizes``: rows per segment key in the window. Baseline segments first (present or not),
    then the largest new values (at most ``max_values`` of them, ties by key).
    """
    known = [s.segment for s in baseline.of_column(column)]
    seen = set(known)
    new = sorted((k for k in sizes if k not in seen), key=lambda k: (-sizes[k], k))
    shown = new[: baseline.max_values]
    note = ""
    if len(new) > len(shown):
        note = f"{column}: {len(new) - len(shown)} more new segment values not reported"
    return known + shown, note


def judge_segments(
    baseline: SegmentBaseline,
    statistics: Mapping[tuple[str, str], SegmentStatistics],
    *,
    notes: Sequence[str] = (),
    min_size: int = 100,
    min_class_size: int = 20,
    metric: str | None = None,
    level: float = 0.95,
    drift_method: str = "auto",
    drift_methods: Mapping[str, str] | None = None,
    drift_thresholds: Mapping[str, float] | None = None,
    drift_min_effect: float = 0.0,
) -> SegmentReport:
    """The reported segments judged from their statistics, keyed ``(column, segment key)``.

    ``statistics`` holds the segments ``window_segment_keys`` chose (a key it lacks has 0
    rows); ``notes`` are its notes. Settings as ``compute_segments``'.
    """
    roles = baseline.roles
    chosen = metric or default_metric(roles.task, has_score=roles.score is not None)
    drift = _DriftSettings(
        drift_method, dict(drift_methods or {}), dict(drift_thresholds or {}), drift_min_effect
    )
    limits = _Limits(min_size, min_class_size)
    results = [
        _evaluate(column, key, stats, baseline.get(column, key), roles, chosen, limits, drift)
        for (column, key), stats in statistics.items()
    ]
    ranked = tuple(sorted(results, key=_rank_key))
    return SegmentReport(chosen, min_size, ranked, tuple(notes), min_class_size, level)


@dataclass(frozen=True)
class SegmentCounts:
    """One segment of a binary classifier's window as counts that merge across partitions.

    ``rows``, the ``BinaryCounts`` of its rows (label/decision cells, binned scores) and, for a
    segment of the baseline, its features profiled on the reference segment's edges
    (``window_profile``, mergeable); a new segment carries no profile (its share of drifted
    features is ``None`` either way). ``statistics`` finishes them for ``judge_segments``.
    """

    rows: int
    performance: BinaryCounts
    profile: DatasetProfile | None = None

    def merge(self, other: SegmentCounts) -> SegmentCounts:
        profile = self.profile or other.profile
        if self.profile is not None and other.profile is not None:
            profile = self.profile.merge(other.profile)
        return SegmentCounts(
            self.rows + other.rows, self.performance.merge(other.performance), profile
        )

    def statistics(self, roles: SegmentRoles) -> SegmentStatistics:
        performance = self.performance.finish(
            positive_label=roles.positive_label,
            target_name=roles.target or "target",
            score_name=roles.score or "y_score",
            has_score=roles.score is not None,
        )
        return SegmentStatistics(self.rows, performance, self.profile)


def segment_counts(
    frame: pd.DataFrame, baseline: SegmentBaseline
) -> dict[tuple[str, str], SegmentCounts]:
    """Every segment value's ``SegmentCounts`` in ``frame`` (new values too), binary task only.

    Keyed ``(column, segment_key)`` as ``compute_segments`` keys them, so a value gets the same
    key whichever partition (and dtype: ``1`` and ``1.0``) it comes from.
    """
    roles = baseline.roles
    if roles.task != "binary_classification":
        raise DataError(f"segment counts: binary classification only, not {roles.task}")
    _require(frame, list(roles.segment_columns))
    counts: dict[tuple[str, str], SegmentCounts] = {}
    for column in roles.segment_columns:
        for key, positions in _split(frame[column]).items():
            part = frame.iloc[positions]
            reference = baseline.get(column, key)
            profile = None if reference is None else window_profile(part, column, reference, roles)
            counts[(column, key)] = SegmentCounts(len(part), _binary_counts(part, roles), profile)
    return counts


def merge_segment_counts(
    left: Mapping[tuple[str, str], SegmentCounts], right: Mapping[tuple[str, str], SegmentCounts]
) -> dict[tuple[str, str], SegmentCounts]:
    """The counts of both sets of rows, segment by segment."""
    merged = dict(left)
    for key, counts in right.items():
        merged[key] = merged[key].merge(counts) if key in merged else counts
    return merged


def segments_from_counts(
    counts: Mapping[tuple[str, str], SegmentCounts],
    baseline: SegmentBaseline,
    *,
    min_size: int = 100,
    min_class_size: int = 20,
    metric: str | None = None,
    level: float = 0.95,
    drift_method: str = "auto",
    drift_methods: Mapping[str, str] | None = None,
    drift_thresholds: Mapping[str, float] | None = None,
    drift_min_effect: float = 0.0,
) -> SegmentReport:
    """``compute_segments`` of the rows whose ``segment_counts`` were merged into ``counts``.

    The same segments are reported (``window_segment_keys`` on the merged rows) and judged by
    the same code (``judge_segments``); settings as ``compute_segments``'.
    """
    statistics: dict[tuple[str, str], SegmentStatistics] = {}
    notes: list[str] = []
    for column in baseline.roles.segment_columns:
        sizes = {key: c.rows for (name, key), c in counts.items() if name == column}
        keys, note = window_segment_keys(baseline, column, sizes)
        notes.extend([note] if note else [])
        for key in keys:
            found = counts.get((column, key))
            if found is None or _too_small(found.rows, baseline.get(column, key), min_size):
                statistics[(column, key)] = SegmentStatistics(found.rows if found else 0)
            else:
                statistics[(column, key)] = found.statistics(baseline.roles)
    return judge_segments(
        baseline,
        statistics,
        notes=notes,
        min_size=min_size,
        min_class_size=min_class_size,
        metric=metric,
        level=level,
        drift_method=drift_method,
        drift_methods=drift_methods,
        drift_thresholds=drift_thresholds,
        drift_min_effect=drift_min_effect,
    )


def _binary_counts(part: pd.DataFrame, roles: SegmentRoles) -> BinaryCounts:
    if roles.target and roles.target in part.columns:
        truth = part[roles.target]
    else:
        truth = pd.Series(np.full(len(part), np.nan), name=roles.target or "target")
    return BinaryCounts.of(
        truth,
        part[roles.prediction] if roles.prediction else None,
        y_score=part[roles.score] if roles.score else None,
        threshold=roles.threshold,
        target_name=roles.target or "target",
        prediction_name=roles.prediction or "y_pred",
        score_name=roles.score or "y_score",
    )


@dataclass(frozen=True)
class _DriftSettings:
    method: str
    methods: dict[str, str]
    thresholds: dict[str, float]
    min_effect: float = 0.0


@dataclass(frozen=True)
class _Limits:
    """The smallest segment (rows) and class (labelled rows per class) that is judged."""

    min_size: int
    min_class_size: int


def _evaluate(
    column: str,
    key: str,
    stats: SegmentStatistics,
    ref: SegmentReference | None,
    roles: SegmentRoles,
    metric: str,
    limits: _Limits,
    drift: _DriftSettings,
) -> SegmentResult:
    rows = stats.rows
    base = SegmentResult(
        column, key, rows, None if ref is None else ref.rows, "insufficient_data", metric,
        baseline_value=None if ref is None else ref.performance.get(metric),
    )  # fmt: skip
    too_small = _too_small(rows, ref, limits.min_size)
    if too_small:
        return replace(base, note=too_small)
    performance = stats.performance
    if performance is None:
        raise DataError(f"segment {column}={key}: {rows} rows but no performance computed")
    value, notes = _metric_value(performance, metric, limits.min_size)
    if ref is None:
        notes.insert(0, "new segment: not in the reference")
    share = None if ref is None else _share_drifted(column, stats.profile, ref, roles, drift, notes)
    change = None if value is None or base.baseline_value is None else value - base.baseline_value
    spread, baseline_spread = (
        _spreads(performance, ref, metric) if value is not None else (None, None)
    )
    few = _few_in_a_class(roles.task, spread, baseline_spread, limits.min_class_size)
    return replace(
        base, status="insufficient_data" if few else "ok", value=value, change=change,
        degradation=_degradation(metric, change), share_drifted=share,
        labelled_rows=performance.labelled_rows, note="; ".join([*([few] if few else []), *notes]),
        spread=spread, baseline_spread=baseline_spread,
    )  # fmt: skip


def _spreads(
    performance: PerformanceResult, ref: SegmentReference | None, metric: str
) -> tuple[MetricSpread, MetricSpread | None]:
    """Each side's standard error and counts (see the module docstring for older baselines)."""
    error = performance.standard_errors.get(metric)
    window = MetricSpread(
        error,
        standard_error_method(metric) if error is not None else "",
        performance.denominators.get(metric, performance.labelled_rows),
        dict(performance.counts),
    )
    if ref is None or ref.performance.get(metric) is None:
        return window, None
    return window, _baseline_spread(ref.performance, metric, window, performance.labelled_rows)


def _baseline_spread(
    reference: PerformanceResult, metric: str, window: MetricSpread, window_labelled: int
) -> MetricSpread:
    classes = _class_counts(reference)
    denominator = reference.denominators.get(metric, reference.labelled_rows)
    stored = reference.standard_errors.get(metric)
    if stored is not None:
        return MetricSpread(stored, standard_error_method(metric), denominator, classes)
    value = reference.get(metric)
    positives, negatives = classes.get("positives", 0), classes.get("negatives", 0)
    if metric == "roc_auc" and value is not None and positives and negatives:
        error = hanley_mcneil_auc(value, positives, negatives)
        return MetricSpread(error, "hanley_mcneil", denominator, classes)
    if window.standard_error is not None and reference.labelled_rows > 0:
        error = window.standard_error * math.sqrt(window_labelled / reference.labelled_rows)
        return MetricSpread(error, "scaled", denominator, classes)
    return MetricSpread(None, "", denominator, classes)


def _class_counts(performance: PerformanceResult) -> dict[str, int]:
    """Labelled rows per class: stored, or (older binary baselines) from the confusion counts."""
    if performance.counts:
        return dict(performance.counts)
    tp, fp, tn, fn = (performance.get(k) for k in ("tp", "fp", "tn", "fn"))
    if tp is None or fp is None or tn is None or fn is None:
        return {}
    return {"positives": int(tp + fn), "negatives": int(tn + fp)}


def _few_in_a_class(
    task: Task, window: MetricSpread | None, reference: MetricSpread | None, minimum: int
) -> str:
    """Which classes have fewer than ``minimum`` labelled rows, per side ("" when none)."""
    if task == "regression" or window is None:
        return ""
    sides = [("window", window.classes), ("reference", reference.classes if reference else {})]
    keys = sorted({k for _, classes in sides for k in classes})
    short = [
        f"{classes.get(key, 0)} {_class_label(key)} in the {side}"
        for side, classes in sides
        if classes
        for key in keys
        if classes.get(key, 0) < minimum
    ]
    return f"{', '.join(short)}, below min_class_size {minimum}" if short else ""


def _class_label(key: str) -> str:
    if key in ("positives", "negatives"):
        return key
    return f"rows of {key.replace('=', ' ', 1)}"


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
    column: str,
    current: DatasetProfile | None,
    ref: SegmentReference,
    roles: SegmentRoles,
    drift: _DriftSettings,
    notes: list[str],
) -> float | None:
    numerical, categorical = roles.features(column)
    features = [*numerical, *categorical]
    if not features or current is None:
        return None
    report = compute_drift(
        ref.profile,
        current,
        features,
        method=drift.method,
        methods={k: v for k, v in drift.methods.items() if k in features},
        thresholds={k: v for k, v in drift.thresholds.items() if k in features},
        min_effect=drift.min_effect,
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

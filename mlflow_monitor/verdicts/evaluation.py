"""One window judged against its baseline: statistics, check outcomes, metrics and health.

``evaluate_window`` is pure (frames and objects in, a ``WindowResult`` out): it profiles the window
on the baseline's bin edges, computes feature and prediction drift, performance (when labels are
present), data quality, segments and fairness, turns them into check outcomes with the spec's
thresholds (``window_checks``), and folds them into the window's health. ``to_dict`` is the body
of ``results.json`` (``contract.write_results`` writes it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypedDict

import pandas as pd

from mlflow_monitor.contract import (
    CAPTURE_DROPPED_COLUMN,
    CheckOutcome,
    MetricValue,
    WindowResults,
    health,
    utc_now,
    utc_text,
)
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import MetricCheck, MonitorSpec
from mlflow_monitor.stats.drift import DriftReport, compute_drift
from mlflow_monitor.stats.performance import PerformanceResult, default_checks
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.stats.quality import QualityReport, compute_quality
from mlflow_monitor.stats.segments import (
    SegmentBaseline,
    SegmentCounts,
    SegmentReport,
    compute_segments,
    segments_from_counts,
)
from mlflow_monitor.verdicts import window_checks as checks
from mlflow_monitor.verdicts.baseline_model import Baseline, performance_of
from mlflow_monitor.verdicts.estimated_checks import (
    WindowEstimate,
    estimate_window,
    estimated_fairness_outcomes,
    estimated_outcomes,
    fit_estimation,
)
from mlflow_monitor.verdicts.fairness_checks import FairnessEvaluation, evaluate_fairness
from mlflow_monitor.verdicts.label_join import coverage
from mlflow_monitor.verdicts.profiled_columns import check_profiled, profile_columns
from mlflow_monitor.verdicts.root_cause import assign_causes

__all__ = [
    "History",
    "WindowResult",
    "check_against_baseline",
    "evaluate_window",
    "window_bounds",
]

History = Mapping[str, Sequence[tuple[datetime, float]]]
ESTIMATE_NOTE = (
    "no labels yet: performance is estimated from the scores (CBPE/DLE), which sees a change in"
    " who the model scores (covariate shift) but not a change in how inputs relate to the"
    " outcome (concept shift); that shows only when labels arrive"
)


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class WindowResult(WindowResults):
    """Everything one window produced: the ``results.json`` record plus the typed statistics."""

    drift: DriftReport
    prediction_drift: DriftReport | None
    performance: PerformanceResult | None
    quality: QualityReport
    segments: SegmentReport | None = None
    fairness: FairnessEvaluation | None = None
    # sections added after the evaluation: ``scoring`` (rows the monitor scored itself),
    # ``comparison`` (a shadow comparison with another version); see ``with_section``
    extra_sections: Mapping[str, object] = field(default_factory=dict)

    @property
    def failing(self) -> tuple[CheckOutcome, ...]:
        """Outcomes that are findings (warn, fail, error), worst first."""
        return self.findings

    def outcomes_frame(self) -> pd.DataFrame:
        """The outcomes as a table (findings first), for display in the notebook.

        ``basis``: ``measured``, or ``estimated`` for a check judged on estimated performance
        before the window's labels arrived (its measured twin is ``not_evaluated``).
        """
        rows = [
            {
                "check": o.check_id,
                "status": o.status,
                "severity": o.severity,
                "basis": o.basis,
                "value": o.value,
                "threshold": o.threshold.text() if o.threshold else "",
                "message": o.message,
            }
            for o in (*self.failing, *(o for o in self.outcomes if not o.firing))
        ]
        columns = ["check", "status", "severity", "basis", "value", "threshold", "message"]
        return pd.DataFrame(rows, columns=columns)

    def estimation_frame(self) -> pd.DataFrame:
        """The estimated metrics with their intervals (``results.json`` ``estimation``).

        One row per metric: ``estimated``, ``low``, ``high`` at ``level``. When the window had
        labels, also ``realized`` and ``error`` (the estimate on the labelled rows minus the
        realized metric: ``perf_est_error/<metric>``). Empty when nothing was estimated.
        """
        section = self.extra_sections.get("estimation")
        columns = ["metric", "estimated", "low", "high", "level"]
        if not isinstance(section, Mapping):
            return pd.DataFrame(columns=columns)
        performance = section.get("performance")
        metrics = performance.get("metrics") if isinstance(performance, Mapping) else None
        errors = section.get("error")
        errors = errors if isinstance(errors, Mapping) else {}
        labelled = section.get("judged") is False
        if labelled:
            columns += ["realized", "error"]
        rows = []
        for name, body in metrics.items() if isinstance(metrics, Mapping) else ():
            if not isinstance(body, Mapping):
                continue
            row = {"metric": name, "estimated": body.get("value")}
            row |= {"low": body.get("low"), "high": body.get("high"), "level": body.get("level")}
            if labelled:  # a multiclass window's realized metrics are named f1_macro, ...
                realized = name if name in errors else f"{name}_macro"
                row["realized"] = self.performance.get(realized) if self.performance else None
                row["error"] = errors.get(realized)
            rows.append(row)
        return pd.DataFrame(rows, columns=columns)

    def metrics_frame(self) -> pd.DataFrame:
        """The metrics to be logged, as a two-column table."""
        return pd.DataFrame([(m.name, m.value) for m in self.metrics], columns=["metric", "value"])

    def statistics(self) -> Mapping[str, object]:
        """The statistics sections of ``results.json``."""
        return {
            "drift": self.drift.to_dict(),
            "prediction_drift": self.prediction_drift.to_dict() if self.prediction_drift else None,
            "performance": self.performance.to_dict() if self.performance else None,
            "quality": self.quality.to_dict(),
            "segments": self.segments.to_dict() if self.segments else None,
            "fairness": self.fairness.to_dict() if self.fairness else None,
            **self.extra_sections,
        }

    def with_section(
        self, name: str, body: Mapping[str, object], metrics: Iterable[MetricValue] = ()
    ) -> WindowResult:
        """A copy with one more ``results.json`` section and the metrics that go with it."""
        return replace(
            self,
            extra_sections={**self.extra_sections, name: dict(body)},
            metrics=(*self.metrics, *metrics),
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-safe ``results.json`` body (non-finite numbers become null)."""
        return _json_safe(super().to_dict())  # type: ignore[return-value]


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
    """Judge one window against ``baseline`` with the spec's thresholds (pure).

    A spec that names a column the baseline did not profile, or a window whose model output is
    missing in every row, is a ``DataError`` naming it: there is nothing to judge, and that must
    never read as healthy.
    """
    check_against_baseline(spec, baseline)
    _check_outputs(spec, frame)
    start, end = window_bounds(spec, frame, window_start, window_end)
    profile = _profile(spec, baseline, frame)
    quality = compute_quality(
        frame,
        baseline.profile,
        numerical=spec.columns.numerical,
        categorical=spec.columns.categorical,
        id_column=spec.columns.id,
    )
    drift = _feature_drift(spec, baseline.profile, profile, skip=_id_like(quality))
    prediction_drift = _prediction_drift(spec, baseline.profile, profile)
    performance = performance_of(spec, frame)
    segments = _segments(spec, baseline, frame)
    fairness = _fairness(spec, baseline, frame)
    estimate = estimate_window(
        spec,
        # a baseline of an earlier release has no calibrator: fitted on its sample instead
        model=baseline.estimation or fit_estimation(spec, baseline.sample),
        reference_sample=baseline.sample,
        frame=frame,
        realized=performance,
    )
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
            level=spec.confidence_level,
        ),
        *checks.quality_outcomes(quality, spec.quality),
        *_segment_outcomes(spec, segments),
        *(fairness.outcomes if fairness else []),
    ]
    if estimate is not None and not estimate.labelled:  # no labels yet: judged on estimates
        outcomes += _estimated(spec, baseline, frame, estimate, outcomes, history, end)
    outcomes = list(
        assign_causes(
            outcomes, alpha=spec.fairness.drift_alpha, min_effect=spec.fairness.drift_min_effect
        )
    )
    metrics = _metrics(drift, prediction_drift, performance, quality, segments, fairness)
    if spec.columns.target:  # the share of the window's predictions that have a label yet
        labelled = performance.labelled_rows if performance else 0
        metrics.append(MetricValue("labels/coverage", coverage(labelled, len(frame))))
    if estimate is not None:
        metrics += estimate.metrics(spec.task)
    if CAPTURE_DROPPED_COLUMN in frame.columns:  # served, but lost before reaching the log
        dropped = pd.to_numeric(frame[CAPTURE_DROPPED_COLUMN], errors="coerce").fillna(0).sum()
        metrics.append(MetricValue("capture/dropped", float(dropped)))
    result = WindowResult(
        model=spec.model,
        model_version=model_version,
        window_start=utc_text(start) if start else None,
        window_end=utc_text(end),
        rows=len(frame),
        health=health(outcomes),
        outcomes=tuple(outcomes),
        metrics=tuple(metrics),
        drift=drift,
        prediction_drift=prediction_drift,
        performance=performance,
        quality=quality,
        segments=segments,
        fairness=fairness,
        notes=baseline.notes,
        extra_sections={"estimation": estimate.to_dict()} if estimate is not None else {},
    )
    if estimate is not None and not estimate.labelled:
        return replace(result, notes=(*result.notes, ESTIMATE_NOTE))
    return result


# -- steps ------------------------------------------------------------------------------------


def _estimated(
    spec: MonitorSpec,
    baseline: Baseline,
    frame: pd.DataFrame,
    estimate: WindowEstimate,
    measured: Sequence[CheckOutcome],
    history: History | None,
    end: datetime,
) -> list[CheckOutcome]:
    """Performance checks and label-based fairness rules judged on the window's estimates."""
    return [
        *estimated_outcomes(
            spec,
            estimate,
            baseline=baseline.performance,
            performance_checks=_performance_checks(spec),
            history=history or {},
            at=end,
        ),
        *estimated_fairness_outcomes(
            spec,
            model=baseline.estimation or fit_estimation(spec, baseline.sample),
            reference=baseline.fairness,
            frame=frame,
            measured=measured,
        ),
    ]


def check_against_baseline(spec: MonitorSpec, baseline: Baseline) -> None:
    """Every column the spec profiles is in the baseline's profile, with the same kind."""
    check_profiled(spec, {name: c.kind for name, c in baseline.profile.columns.items()})


def _check_outputs(spec: MonitorSpec, frame: pd.DataFrame) -> None:
    for role in ("prediction", "score"):
        name = getattr(spec.columns, role)
        if name and name in frame.columns and not bool(frame[name].notna().any()):
            raise DataError(
                f"columns.{role} {name!r}: missing in every row of the window "
                f"({len(frame):,} rows): the model produced no output to judge"
            )


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


def _id_like(quality: QualityReport) -> dict[str, str]:
    """Feature columns that look like ids (every value distinct): not drift-tested, and why."""
    return {c.column: f"id-like ({c.id_like})" for c in quality.columns if c.id_like}


def _feature_drift(
    spec: MonitorSpec,
    reference: DatasetProfile,
    current: DatasetProfile,
    *,
    skip: dict[str, str] | None = None,
) -> DriftReport:
    names = spec.columns.features
    methods, thresholds = _overrides(spec, names)
    return compute_drift(
        reference,
        current,
        names,
        method=spec.drift.method,
        methods=methods,
        thresholds=thresholds,
        min_effect=spec.drift.min_effect,
        skip=skip,
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
        reference,
        current,
        names,
        method=spec.drift.method,
        methods=methods,
        thresholds=thresholds,
        min_effect=spec.drift.min_effect,
    )


def _performance_checks(spec: MonitorSpec) -> list[MetricCheck]:
    has_score = bool(spec.columns.score or spec.columns.probabilities)
    return list(spec.performance.checks) or default_checks(spec.task, has_score=has_score)


def _segments(
    spec: MonitorSpec,
    baseline: Baseline,
    frame: pd.DataFrame | Mapping[tuple[str, str], SegmentCounts],
) -> SegmentReport | None:
    """The window's segments from its frame, or from its merged ``SegmentCounts`` (Spark)."""
    if not spec.columns.segments or not isinstance(baseline.segments, SegmentBaseline):
        return None
    settings = _SegmentSettings(
        min_size=spec.segments.min_size,
        min_class_size=spec.segments.min_class_size,
        metric=spec.segments.metric,
        level=spec.confidence_level,
        drift_method=spec.drift.method,
        drift_methods=spec.drift.methods,
        drift_thresholds=spec.drift.thresholds,
        drift_min_effect=spec.drift.min_effect,
    )
    if isinstance(frame, pd.DataFrame):
        return compute_segments(frame, baseline.segments, **settings)
    return segments_from_counts(frame, baseline.segments, **settings)


class _SegmentSettings(TypedDict):
    """The spec's segment settings, as ``compute_segments``' (and ``segments_from_counts``')."""

    min_size: int
    min_class_size: int
    metric: str | None
    level: float
    drift_method: str
    drift_methods: Mapping[str, str]
    drift_thresholds: Mapping[str, float]
    drift_min_effect: float


def _segment_outcomes(spec: MonitorSpec, report: SegmentReport | None) -> list[CheckOutcome]:
    return [] if report is None else checks.segment_outcomes(report, spec.segments)


def _fairness(
    spec: MonitorSpec, baseline: Baseline, frame: pd.DataFrame
) -> FairnessEvaluation | None:
    if not spec.columns.protected:
        return None
    return evaluate_fairness(spec, baseline.fairness, frame)


def _metrics(
    drift: DriftReport,
    prediction_drift: DriftReport | None,
    performance: PerformanceResult | None,
    quality: QualityReport,
    segments: SegmentReport | None,
    fairness: FairnessEvaluation | None,
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
    values += fairness.metrics if fairness else []
    return [m for m in values if isinstance(m.value, (int, float)) and math.isfinite(m.value)]


def window_bounds(
    spec: MonitorSpec, frame: pd.DataFrame, start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime]:
    """The window's start and end: given ones, else the timestamp column's range, else now."""
    ts = spec.columns.timestamp
    if ts and ts in frame.columns and len(frame):
        stamps = pd.to_datetime(frame[ts], utc=True, errors="coerce").dropna()
        if len(stamps):
            start = start or stamps.min().floor("us").to_pydatetime()
            end = end or stamps.max().floor("us").to_pydatetime()
    return start, end or utc_now()


# -- helpers ---------------------------------------------------------------------------------


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

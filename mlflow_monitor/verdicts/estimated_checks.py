"""Verdicts before labels arrive: performance and fairness estimated, judged, marked estimated.

The baseline stores what estimation needs (``EstimationModel``, fitted on the labelled
reference: the calibrator of a binary classifier's score, the per-group calibration of each
protected attribute, a multiclass classifier's one-vs-rest calibrators; a regressor's loss model
is refitted from the baseline's sample, because a fitted model would have to be pickled).

A window without labels is then judged on its estimates (``stats.estimation``: CBPE, DLE) with
the spec's own performance checks and policy rules: the same thresholds, outcomes marked
``basis: estimated`` (their own alert identity, so the realized finding alerts again when
labels confirm it), severity capped at ``estimation.max_severity`` (warning by default), and an
estimate whose assumptions fail (calibration, coverage of the reference's score range) never
fires (``insufficient_data`` with the reason). The measured outcomes stay as they were
(``not_evaluated``: no labels), so a gate never passes on an estimate.

Fairness before labels: each row's calibrated probability (its group's own calibrator where the
reference allows, ``stats.estimation.groups``) gives every (group, decision) cell an expected
number of positives; labels are imputed within each cell to that count (rounded), and the
ordinary fairness evaluation runs on them, so the policy packs judge expected TPR, FPR, FNR and
precision with the same code. An attribute whose groups' calibration is not reliable gives
``insufficient_data`` rows, never a finding.

A window with labels is estimated too, on its labelled rows, and the difference to the realized
metric is logged (``perf_est_error/<metric>``): how well estimation tracked, per window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from mlflow_monitor.contract import CheckOutcome, Interval, MetricValue
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import MetricCheck, MonitorSpec, Severity
from mlflow_monitor.stats.estimation import (
    Calibrator,
    EstimatedMetric,
    GroupCalibration,
    PerformanceEstimate,
    binary_decisions,
    estimate_binary,
    estimate_groups,
    estimate_multiclass,
    estimate_regression,
    fit_calibrator,
    fit_group_calibration,
    fit_loss_model,
    fit_multiclass_calibrators,
)
from mlflow_monitor.stats.fairness import FairnessReport
from mlflow_monitor.stats.performance import PerformanceResult
from mlflow_monitor.verdicts import window_checks as checks
from mlflow_monitor.verdicts.fairness_checks import evaluate_fairness, positive_indicator

__all__ = [
    "EstimationModel",
    "WindowEstimate",
    "estimate_window",
    "estimated_fairness_outcomes",
    "estimated_outcomes",
    "fit_estimation",
]

MIN_REFERENCE_ROWS = 100  # a calibrator of fewer labelled rows is not fitted
_SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
_LABEL_METRICS = ("prevalence", "tpr", "fpr", "fnr", "fdr", "for", "precision")
_MULTICLASS_NAMES = {"f1": "f1_macro", "precision": "precision_macro", "recall": "recall_macro"}


@dataclass(frozen=True)
class EstimationModel:
    """What the baseline keeps to estimate a window's performance before its labels."""

    calibrator: Calibrator | None = None
    classes: tuple[str, ...] = ()
    calibrators: Mapping[str, Calibrator] = field(default_factory=dict)
    groups: Mapping[str, GroupCalibration] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe (``baseline.json`` ``estimation``)."""
        return {
            "calibrator": self.calibrator.to_dict() if self.calibrator else None,
            "classes": list(self.classes),
            "calibrators": {k: c.to_dict() for k, c in self.calibrators.items()},
            "groups": {k: g.to_dict() for k, g in self.groups.items()},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> EstimationModel:
        """Inverse of ``to_dict``."""
        calibrator = raw.get("calibrator")
        classes = raw.get("classes")
        calibrators = raw.get("calibrators")
        groups = raw.get("groups")
        return cls(
            calibrator=Calibrator.from_dict(calibrator)
            if isinstance(calibrator, Mapping)
            else None,
            classes=tuple(str(c) for c in classes) if isinstance(classes, list) else (),
            calibrators={
                str(k): Calibrator.from_dict(v)
                for k, v in (calibrators.items() if isinstance(calibrators, Mapping) else ())
                if isinstance(v, Mapping)
            },
            groups={
                str(k): GroupCalibration.from_dict(v)
                for k, v in (groups.items() if isinstance(groups, Mapping) else ())
                if isinstance(v, Mapping)
            },
        )

    def summary(self) -> dict[str, object]:
        """The calibration errors people read on the baseline (before and after calibrating)."""
        out: dict[str, object] = {}
        if self.calibrator is not None:
            out["ece_before"], out["ece_after"] = (
                self.calibrator.ece_before,
                self.calibrator.ece_after,
            )
        for attribute, calibration in self.groups.items():
            out[attribute] = {g: ref.ece for g, ref in calibration.groups.items()}
        return out


# -- at the baseline ----------------------------------------------------------------------------


def fit_estimation(spec: MonitorSpec, frame: pd.DataFrame) -> EstimationModel | None:
    """Fit the calibrators on the labelled reference (None: estimation off or impossible)."""
    cols = spec.columns
    if not spec.estimation.enabled or not cols.target or cols.target not in frame.columns:
        return None
    if spec.task == "binary_classification" and cols.score and cols.score in frame.columns:
        return _fit_binary(spec, frame)
    if spec.task == "multiclass_classification" and cols.probabilities:
        return _fit_multiclass(spec, frame)
    return None


def _fit_binary(spec: MonitorSpec, frame: pd.DataFrame) -> EstimationModel | None:
    cols = spec.columns
    truth = positive_indicator(frame[cols.target or ""], spec.positive_label, "columns.target")
    score = pd.to_numeric(frame[cols.score or ""], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(score) & ~np.isnan(truth)
    if keep.sum() < MIN_REFERENCE_ROWS:
        return None
    groups = {
        attribute: fit_group_calibration(
            scores=score[keep],
            truth=truth[keep],
            groups=frame[attribute].to_numpy()[keep],
        )
        for attribute in cols.protected
    }
    return EstimationModel(
        calibrator=fit_calibrator(scores=score[keep], truth=truth[keep]), groups=groups
    )


def _fit_multiclass(spec: MonitorSpec, frame: pd.DataFrame) -> EstimationModel | None:
    cols = spec.columns
    labelled = frame[frame[cols.target or ""].notna()]
    classes = _classes(labelled[cols.target or ""], len(cols.probabilities))
    if classes is None or len(labelled) < MIN_REFERENCE_ROWS:
        return None
    calibrators = fit_multiclass_calibrators(
        probabilities=labelled[list(cols.probabilities)].to_numpy(dtype=float),
        truth=labelled[cols.target or ""].astype(str).to_numpy(),
        classes=classes,
    )
    return EstimationModel(classes=tuple(classes), calibrators=calibrators)


def _classes(truth: pd.Series, columns: int) -> list[str] | None:
    """The label of each probability column: the sorted labels (as ``stats.performance``)."""
    seen = sorted({str(v) for v in truth.unique()})
    return seen if len(seen) == columns else None


# -- at a window --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowEstimate:
    """A window's estimated performance (and per group), with the error once labels exist."""

    performance: PerformanceEstimate
    groups: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    labelled: bool = False
    error: Mapping[str, float] = field(default_factory=dict)
    segments: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe (``results.json`` ``estimation``)."""
        return {
            "basis": "estimated",
            "judged": not self.labelled,
            "performance": self.performance.to_dict(),
            "groups": {k: dict(v) for k, v in self.groups.items()},
            "segments": {k: dict(v) for k, v in self.segments.items()},
            "error": dict(self.error),
        }

    def metrics(self, task: str) -> list[MetricValue]:
        """``perf_est/<m>``, ``perf_est_error/<m>`` (labelled windows), ``fairness_est/...``."""
        out = [
            MetricValue(f"perf_est/{_name(task, m)}", e.value)
            for m, e in self.performance.metrics.items()
        ]
        out += [MetricValue(f"perf_est_error/{m}", v) for m, v in self.error.items()]
        out += _group_metrics("fairness_est", self.groups)
        out += _group_metrics("segment_est", self.segments)
        return out


def _group_metrics(
    prefix: str, estimates: Mapping[str, Mapping[str, object]]
) -> list[MetricValue]:
    """``<prefix>/<column>=<value>/<metric>`` for every group's estimated rates."""
    out = []
    for column, groups in estimates.items():
        for group, body in groups.items():
            rates = body.get("metrics") if isinstance(body, Mapping) else None
            for metric, raw in rates.items() if isinstance(rates, Mapping) else ():
                value = raw.get("value") if isinstance(raw, Mapping) else None
                if isinstance(value, (int, float)):
                    out.append(MetricValue(f"{prefix}/{column}={group}/{metric}", float(value)))
    return out


def _name(task: str, metric: str) -> str:
    return _MULTICLASS_NAMES.get(metric, metric) if task == "multiclass_classification" else metric


def estimate_window(
    spec: MonitorSpec,
    *,
    model: EstimationModel | None,
    reference_sample: pd.DataFrame,
    frame: pd.DataFrame,
    realized: PerformanceResult | None,
) -> WindowEstimate | None:
    """The window's estimate (None when the spec or the baseline cannot give one).

    With labels (``realized`` has labelled rows) the labelled rows are estimated too and the
    difference to the realized metrics is the estimation error.
    """
    if not spec.estimation.enabled:
        return None
    estimate = _estimate(spec, model, reference_sample, frame)
    if estimate is None:
        return None
    labelled = realized is not None and realized.labelled_rows > 0
    error: dict[str, float] = {}
    if labelled and realized is not None:
        rows = frame[frame[spec.columns.target or ""].notna()]
        on_labelled = _estimate(spec, model, reference_sample, rows)
        error = _errors(spec, on_labelled, realized)
    groups = _groups(spec, model, frame)
    segments = _segments(spec, model, frame)
    return WindowEstimate(estimate, groups, labelled, error, segments)


def _estimate(
    spec: MonitorSpec,
    model: EstimationModel | None,
    reference_sample: pd.DataFrame,
    frame: pd.DataFrame,
) -> PerformanceEstimate | None:
    if frame.empty:
        return None
    level = spec.confidence_level
    if spec.task == "binary_classification" and model and model.calibrator:
        scores, decisions = _binary_inputs(spec, frame)
        return estimate_binary(
            scores=scores, decisions=decisions, calibrator=model.calibrator, level=level
        )
    if spec.task == "multiclass_classification" and model and model.calibrators:
        return _multiclass(spec, model, frame)
    if spec.task == "regression":
        return _regression(spec, reference_sample, frame)
    return None


def _binary_inputs(spec: MonitorSpec, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Scores and decisions of the rows that have a score (the package's decision rule)."""
    cols = spec.columns
    score = pd.to_numeric(frame[cols.score or ""], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(score)
    predictions = frame[cols.prediction][keep] if cols.prediction in frame.columns else None
    decisions = binary_decisions(
        predictions=predictions,
        positive_label=1 if spec.positive_label is None else spec.positive_label,
        scores=score[keep],
        threshold=spec.fairness.decision_threshold,
    )
    return score[keep], decisions


def _multiclass(
    spec: MonitorSpec, model: EstimationModel, frame: pd.DataFrame
) -> PerformanceEstimate:
    cols = spec.columns
    matrix = frame[list(cols.probabilities)].to_numpy(dtype=float)
    keep = np.isfinite(matrix).all(axis=1)
    classes = list(model.classes)
    if cols.prediction and cols.prediction in frame.columns:
        predictions = frame[cols.prediction].astype(str).to_numpy()[keep]
    else:
        predictions = np.asarray(classes, dtype=object)[np.argmax(matrix[keep], axis=1)]
    return estimate_multiclass(
        probabilities=matrix[keep],
        classes=classes,
        predictions=predictions,
        calibrators=model.calibrators,
        level=spec.confidence_level,
    )


def _regression(
    spec: MonitorSpec, sample: pd.DataFrame, frame: pd.DataFrame
) -> PerformanceEstimate | None:
    """DLE with a loss model fitted on the baseline's sample (refitted each window: no pickle)."""
    cols = spec.columns
    target, prediction = cols.target, cols.prediction
    features = [c for c in cols.features if c in sample.columns and c in frame.columns]
    if not target or not prediction or target not in sample.columns or not features:
        return None
    labelled = sample[sample[target].notna() & sample[prediction].notna()]
    if len(labelled) < MIN_REFERENCE_ROWS:
        return None
    try:
        loss = fit_loss_model(
            features=labelled[features],
            predictions=labelled[prediction].to_numpy(dtype=float),
            truth=labelled[target].to_numpy(dtype=float),
        )
    except DataError:
        return None
    rows = frame[frame[prediction].notna()]
    return estimate_regression(
        features=rows[features],
        predictions=rows[prediction].to_numpy(dtype=float),
        loss_model=loss,
        level=spec.confidence_level,
    )


def _errors(
    spec: MonitorSpec, estimate: PerformanceEstimate | None, realized: PerformanceResult
) -> dict[str, float]:
    """Estimated minus realized, per metric both have (on the same labelled rows)."""
    if estimate is None:
        return {}
    out: dict[str, float] = {}
    for metric, value in estimate.metrics.items():
        name = _name(spec.task, metric)
        actual = realized.get(name)
        if actual is not None and np.isfinite(actual):
            out[name] = value.value - actual
    return out


def _groups(
    spec: MonitorSpec, model: EstimationModel | None, frame: pd.DataFrame
) -> dict[str, dict[str, object]]:
    """Per protected attribute and group: estimated TPR/FPR/FNR/precision/selection rate."""
    if spec.task != "binary_classification" or model is None or not model.groups:
        return {}
    cols = spec.columns
    score = pd.to_numeric(frame[cols.score or ""], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(score)
    scores, decisions = _binary_inputs(spec, frame)
    out: dict[str, dict[str, object]] = {}
    for attribute, calibration in model.groups.items():
        if attribute not in frame.columns:
            continue
        found = estimate_groups(
            scores=scores,
            decisions=decisions,
            groups=frame[attribute].to_numpy()[keep],
            calibration=calibration,
            level=spec.confidence_level,
        )
        out[attribute] = {group: estimate.to_dict() for group, estimate in found.items()}
    return out


def _segments(
    spec: MonitorSpec, model: EstimationModel | None, frame: pd.DataFrame
) -> dict[str, dict[str, object]]:
    """Per segment value: the same rates, calibrated by the overall calibrator."""
    if spec.task != "binary_classification" or model is None or model.calibrator is None:
        return {}
    overall = {
        c: GroupCalibration(overall=model.calibrator)
        for c in spec.columns.segments
        if c not in model.groups
    }
    shared = {c: model.groups[c] for c in spec.columns.segments if c in model.groups}
    return _groups(spec, replace(model, groups={**overall, **shared}), frame)


# -- judged ---------------------------------------------------------------------------------------


def estimated_outcomes(
    spec: MonitorSpec,
    estimate: WindowEstimate,
    *,
    baseline: PerformanceResult | None,
    performance_checks: Sequence[MetricCheck],
    history: Mapping[str, Sequence[tuple[object, float]]] | None = None,
    at: object = None,
) -> list[CheckOutcome]:
    """The spec's performance checks judged on the estimate, marked estimated and capped."""
    result = _as_result(spec, estimate.performance)
    judged = checks.performance_outcomes(
        result,
        baseline,
        performance_checks,
        history=history,  # type: ignore[arg-type]
        at=at,  # type: ignore[arg-type]
        level=spec.confidence_level,
    )
    method = "cbpe" if spec.task != "regression" else "dle"
    out = []
    for outcome in judged:
        metric = outcome.check_id.removeprefix("performance/")
        found = _find(spec, estimate.performance, metric)
        if found is None or outcome.status == "not_evaluated":
            continue
        interval = Interval(found.low, found.high, found.level, method, None)
        out.append(_mark(spec, replace(outcome, interval=interval), estimate.performance, method))
    return out


def _as_result(spec: MonitorSpec, estimate: PerformanceEstimate) -> PerformanceResult:
    """The estimate in the realized metrics' shape, so the same check code judges it."""
    names = {_name(spec.task, m): e for m, e in estimate.metrics.items()}
    return PerformanceResult(
        task=spec.task,
        rows=estimate.rows,
        labelled_rows=estimate.rows,
        metrics={m: e.value for m, e in names.items()},
        standard_errors={m: e.standard_error for m, e in names.items()},
        denominators={m: round(e.denominator) for m, e in names.items() if e.denominator},
    )


def _find(spec: MonitorSpec, estimate: PerformanceEstimate, metric: str) -> EstimatedMetric | None:
    for name, value in estimate.metrics.items():
        if _name(spec.task, name) == metric:
            return value
    return None


def _mark(
    spec: MonitorSpec, outcome: CheckOutcome, estimate: PerformanceEstimate, method: str
) -> CheckOutcome:
    """Basis estimated, severity capped, never firing on an estimate whose assumptions fail."""
    cap = spec.estimation.max_severity
    severity: Severity = (
        cap if _SEVERITY_RANK[outcome.severity] > _SEVERITY_RANK[cap] else outcome.severity
    )
    status = outcome.status
    if status in ("warn", "fail"):
        status = "fail" if severity == "critical" else "warn"
    evidence = {
        **outcome.evidence,
        "method": method,
        "coverage_share": round(estimate.coverage_share, 4),
        "reference_calibration_error": round(estimate.reference_calibration_error, 4),
    }
    message = f"estimated before labels ({method}): {outcome.message}"
    if not estimate.trustworthy and status in ("warn", "fail"):
        why = "; ".join(estimate.notes) or "the estimate's assumptions do not hold"
        status, message = "insufficient_data", f"{message} (not trusted: {why})"
        evidence["note"] = f"estimate not trusted: {why}"
    return replace(
        outcome,
        status=status,
        severity=severity,
        basis="estimated",
        message=message,
        evidence=evidence,
    )


def estimated_fairness_outcomes(
    spec: MonitorSpec,
    *,
    model: EstimationModel | None,
    reference: FairnessReport | None,
    frame: pd.DataFrame,
    measured: Sequence[CheckOutcome],
) -> list[CheckOutcome]:
    """Label-based fairness rules judged on imputed expected labels, where labels are absent.

    Only checks the measured evaluation could not judge (``not_evaluated``) get an estimated
    twin; an attribute with a group whose calibration is unreliable gives insufficient data.
    """
    cols = spec.columns
    if not cols.protected or spec.task != "binary_classification" or model is None:
        return []
    absent = {o.check_id for o in measured if o.status == "not_evaluated"}
    if not absent or model.calibrator is None:
        return []
    imputed = _imputed_frame(spec, model, frame)
    if imputed is None:
        return []
    evaluation = evaluate_fairness(spec, reference, imputed)
    unreliable = _unreliable(model)
    estimate = PerformanceEstimate("binary_classification", len(frame), spec.confidence_level)
    out = []
    for outcome in evaluation.outcomes:
        if outcome.check_id not in absent:
            continue
        marked = _mark(spec, outcome, estimate, "cbpe")
        shaky = [a for a in unreliable if a in outcome.check_id]
        if shaky and marked.status in ("warn", "fail"):
            why = f"group calibration unreliable for {', '.join(shaky)}"
            marked = replace(
                marked,
                status="insufficient_data",
                message=f"{marked.message} (not trusted: {why})",
                evidence={**marked.evidence, "note": why},
            )
        out.append(marked)
    return out


def _unreliable(model: EstimationModel) -> list[str]:
    return [
        attribute
        for attribute, calibration in model.groups.items()
        if any(not ref.reliable for ref in calibration.groups.values())
    ]


def _imputed_frame(
    spec: MonitorSpec, model: EstimationModel, frame: pd.DataFrame
) -> pd.DataFrame | None:
    """The window with labels imputed to each (groups, decision) cell's expected positives."""
    cols = spec.columns
    scores, decisions = _binary_inputs(spec, frame)
    score = pd.to_numeric(frame[cols.score or ""], errors="coerce").to_numpy(dtype=float)
    rows = frame[np.isfinite(score)].reset_index(drop=True)
    if rows.empty:
        return None
    probability = _calibrated(model, rows, scores, cols.protected)
    cells = rows.groupby(list(cols.protected), dropna=False, sort=False).ngroup().to_numpy()
    positive = _impute(probability, decisions.astype(bool), cells)
    label = 1 if spec.positive_label is None else spec.positive_label
    other: object = 0 if spec.positive_label is None else "__not_positive__"
    out: pd.DataFrame = rows.copy()
    out[cols.target or "__target__"] = pd.Series(positive).map({True: label, False: other})
    return out


def _calibrated(
    model: EstimationModel, rows: pd.DataFrame, scores: np.ndarray, protected: Sequence[str]
) -> np.ndarray:
    """Each row's probability: its group's own calibrator (first protected attribute) or the
    overall one."""
    assert model.calibrator is not None
    out = model.calibrator.apply_array(scores)
    first = protected[0] if protected else None
    calibration = model.groups.get(first) if first else None
    if calibration is None or first is None:
        return out
    groups = rows[first].astype(str).to_numpy()
    for group in calibration.groups:
        hit = groups == group
        if hit.any():
            out[hit] = calibration.calibrator(group).apply_array(scores[hit])
    return out


def _impute(probability: np.ndarray, decisions: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Positive labels for the most probable rows of each cell, as many as it expects."""
    key = cells.astype(np.int64) * 2 + decisions.astype(np.int64)
    size = int(key.max()) + 1 if len(key) else 0
    expected = np.rint(np.bincount(key, weights=probability, minlength=size)).astype(np.int64)
    order = np.lexsort((-probability, key))
    ordered = key[order]
    starts = np.searchsorted(ordered, np.arange(size))
    rank = np.arange(len(key)) - starts[ordered]
    positive = np.zeros(len(key), dtype=bool)
    positive[order] = rank < expected[ordered]
    return positive

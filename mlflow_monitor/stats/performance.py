"""Model performance for one window: classification and regression metrics, equal to sklearn's.

Every metric is computed by scikit-learn on the labelled rows (``labels`` explicit where sklearn
would otherwise guess), so values equal sklearn's exactly; binary accuracy, precision, recall and
F1 are the same integer divisions sklearn does, from the confusion counts (``_label_metrics``).
Rows without a label are dropped and counted (labels often arrive later); a metric that is
undefined on the data (ROC AUC with a single class, precision with no predicted positive) is left
out and the note says why, never NaN.
Binary labels are compared as ``label == positive_label``, so string labels work the same as 0/1.

Beside each metric the result keeps what a confidence interval needs (``standard_errors``,
``denominators``, ``counts``; see ``standard_error_method``): ROC AUC DeLong's standard error
(``stats.intervals``); a rate (accuracy, precision, recall, positive rate, per-class recall) the
Wilson-centred (Agresti-Coull, add two successes and two failures) standard error over its own
denominator; F1 as a rate over the effective denominator ``(2 tp + fp + fn)^2 / (2 (tp + fp +
fn))``, with which the binomial variance equals F1's delta-method variance over the confusion
counts (``4 tp (fp + fn) (tp + fp + fn) / (2 tp + fp + fn)^4``); macro and weighted F1 from the
per-class F1s taken as independent; a loss or error
that is a mean over rows (MAE, MAPE, Brier, binary log loss) the standard error of that mean,
RMSE by the delta method from the squared errors' mean. PR AUC, R² and multiclass log loss have
none. ``counts`` are the labelled rows per class (``positives``/``negatives`` for a binary task,
``class=<label>`` for a multiclass one). DeLong adds ~0.35 s at 1,000,000 rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias, cast

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import MetricCheck, Task
from mlflow_monitor.stats._binning import FloatArray, IntArray
from mlflow_monitor.stats.intervals import auc_standard_error, hanley_mcneil_auc

__all__ = [
    "SCORE_BINS",
    "BinaryCounts",
    "PerformanceResult",
    "class_metric_name",
    "compute_performance",
    "default_checks",
    "default_metric",
    "higher_is_better",
    "standard_error_method",
]

Values: TypeAlias = "pd.Series | np.ndarray | Sequence[object]"
Probabilities: TypeAlias = "pd.DataFrame | np.ndarray | Sequence[Sequence[float]]"

# Metrics where a larger value means a worse model (used to rank and to orient changes).
_LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "mape", "fp", "fn"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-.]")
# Rates x / n: their interval is Wilson's over ``denominators[metric]``.
_RATES = frozenset({"accuracy", "precision", "recall", "f1", "positive_rate"})
# Means over rows (or functions of one): their interval is normal, value +/- z * SE.
_MEANS = frozenset({"mae", "rmse", "mape", "log_loss", "brier", "f1_macro", "f1_weighted"})
_CLASS_RECALL = "recall_class_"


@dataclass(frozen=True)
class PerformanceResult:
    """Metrics of one window or segment: ``rows`` counts all rows, ``labelled_rows`` those used.

    ``standard_errors`` and ``denominators`` (keyed by metric) and ``counts`` (labelled rows per
    class) are what intervals need; a result read from an older file has them empty.
    """

    task: Task
    rows: int
    labelled_rows: int
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""
    standard_errors: dict[str, float] = field(default_factory=dict)
    denominators: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def get(self, metric: str) -> float | None:
        """The metric's value, or None when it is undefined for this window."""
        return self.metrics.get(metric)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (for ``results.json`` and baselines)."""
        return {
            "task": self.task,
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            "metrics": dict(self.metrics),
            "note": self.note,
            "standard_errors": dict(self.standard_errors),
            "denominators": dict(self.denominators),
            "counts": dict(self.counts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PerformanceResult:
        """Inverse of ``to_dict``; a malformed mapping is a ``DataError`` naming the key."""
        task = data.get("task")
        if task not in ("binary_classification", "multiclass_classification", "regression"):
            raise DataError(f"performance.task: unknown task {task!r}")
        raw = data.get("metrics", {})
        if not isinstance(raw, Mapping):
            raise DataError("performance.metrics: expected a mapping")
        return cls(
            task=task,
            rows=_int_field(data, "rows"),
            labelled_rows=_int_field(data, "labelled_rows"),
            metrics={str(k): float(v) for k, v in raw.items()},
            note=str(data.get("note", "")),
            standard_errors=_mapping(data, "standard_errors"),
            denominators={k: int(v) for k, v in _mapping(data, "denominators").items()},
            counts={k: int(v) for k, v in _mapping(data, "counts").items()},
        )


def _int_field(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int):
        raise DataError(f"performance.{key}: expected an integer, got {value!r}")
    return value


def _mapping(data: Mapping[str, object], key: str) -> dict[str, float]:
    """An optional mapping of numbers (absent in files written before it existed)."""
    raw = data.get(key) or {}
    if not isinstance(raw, Mapping):
        raise DataError(f"performance.{key}: expected a mapping")
    return {str(k): float(v) for k, v in raw.items()}


def standard_error_method(metric: str) -> str:
    """How a metric's interval is had: ``wilson`` (a rate), ``delong``, ``normal`` or ``""``."""
    if metric in _RATES or metric.startswith(_CLASS_RECALL):
        return "wilson"
    if metric == "roc_auc":
        return "delong"
    return "normal" if metric in _MEANS else ""


def higher_is_better(metric: str) -> bool:
    """Direction of a metric: False for losses and errors (log_loss, brier, mae, rmse, mape)."""
    return metric not in _LOWER_IS_BETTER


def class_metric_name(prefix: str, label: object) -> str:
    """Per-class metric name safe for MLflow: ``recall_class_<label>`` (unsafe chars -> ``_``)."""
    return f"{prefix}_class_{_UNSAFE.sub('_', str(label))}"


def default_metric(task: Task, *, has_score: bool = True) -> str:
    """The headline metric of a task (segments rank on it when the spec names none)."""
    if task == "binary_classification":
        return "roc_auc" if has_score else "f1"
    if task == "multiclass_classification":
        return "f1_macro"
    return "rmse"


def default_checks(task: Task, *, has_score: bool = True) -> list[MetricCheck]:
    """Performance checks applied when ``performance.checks`` is empty.

    Binary: ROC AUC may drop 0.05 (critical; accuracy instead when the spec has no score
    column, else every window would be partial), F1 and recall 0.05 (warning). Multiclass: accuracy
    0.05 (critical), macro F1 0.05 (warning). Regression: RMSE may rise 10 % of the baseline
    (critical), MAE 10 % (warning), R² may drop 0.05 (warning). Absolute drops for bounded
    scores, relative rises for errors whose scale depends on the target.
    """
    if task == "binary_classification":
        return [
            MetricCheck(
                metric="roc_auc" if has_score else "accuracy", max_drop=0.05, severity="critical"
            ),
            MetricCheck(metric="f1", max_drop=0.05, severity="warning"),
            MetricCheck(metric="recall", max_drop=0.05, severity="warning"),
        ]
    if task == "multiclass_classification":
        return [
            MetricCheck(metric="accuracy", max_drop=0.05, severity="critical"),
            MetricCheck(metric="f1_macro", max_drop=0.05, severity="warning"),
        ]
    return [
        MetricCheck(metric="rmse", max_rise=0.1, relative=True, severity="critical"),
        MetricCheck(metric="mae", max_rise=0.1, relative=True, severity="warning"),
        MetricCheck(metric="r2", max_drop=0.05, severity="warning"),
    ]


@dataclass(frozen=True)
class _Names:
    target: str
    prediction: str
    score: str
    probabilities: str


@dataclass(frozen=True)
class _Wanted:
    """The metrics a caller asked for (None: all)."""

    names: frozenset[str] | None

    def __contains__(self, metric: object) -> bool:
        return self.names is None or metric in self.names

    def any(self, metrics: Collection[str]) -> bool:
        return self.names is None or not self.names.isdisjoint(metrics)


_LABEL_METRICS = ("accuracy", "precision", "recall", "f1", "positive_rate", "tp", "fp", "tn", "fn")


@dataclass
class _Spread:
    """Standard errors, denominators and class counts, filled beside the metrics."""

    errors: dict[str, float] = field(default_factory=dict)
    denominators: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def rate(self, metric: str, successes: float, denominator: float) -> None:
        """A rate's Wilson-centred standard error (add two successes and two failures)."""
        if denominator <= 0:
            return
        centre = (successes + 2.0) / (denominator + 4.0)
        self.errors[metric] = float(np.sqrt(centre * (1.0 - centre) / (denominator + 4.0)))
        self.denominators[metric] = round(denominator)

    def mean(self, metric: str, per_row: np.ndarray) -> None:
        """The standard error of a mean over rows."""
        if per_row.size >= 2:
            self.errors[metric] = float(np.std(per_row, ddof=1) / np.sqrt(per_row.size))
            self.denominators[metric] = int(per_row.size)

    def kept(self, wanted: _Wanted) -> _Spread:
        """Only the wanted metrics' errors; class counts always."""
        return _Spread(
            {k: v for k, v in self.errors.items() if k in wanted},
            {k: v for k, v in self.denominators.items() if k in wanted},
            self.counts,
        )


@dataclass(frozen=True)
class _Window:
    """Labelled rows only, aligned: target, prediction (None: derive), score, probabilities."""

    y_true: np.ndarray
    y_pred: np.ndarray | None
    score: np.ndarray | None
    proba: np.ndarray | None


def compute_performance(
    task: Task,
    y_true: Values,
    y_pred: Values | None,
    *,
    y_score: Values | None = None,
    probabilities: Probabilities | None = None,
    classes: Sequence[object] | None = None,
    positive_label: object = None,
    threshold: float = 0.5,
    target_name: str | None = None,
    prediction_name: str | None = None,
    score_name: str | None = None,
    only: Collection[str] | None = None,
) -> PerformanceResult:
    """Metrics of ``task`` on the rows that carry a label.

    ``y_pred`` may be None when a score (binary, thresholded at ``threshold``) or probabilities
    (multiclass, argmax over ``classes``) are given. ``classes`` names the probability columns in
    order (default: the sorted labels). Column names in errors come from ``*_name``, else the
    Series' name. Bad values (score outside [0, 1], infinite, non-numeric) raise ``DataError``.
    ``only`` restricts the result to the named metrics and skips the sklearn calls no named
    metric needs (segments need one metric per segment; each sklearn call validates its input).
    """
    names = _names(y_true, y_pred, y_score, probabilities, target_name, prediction_name, score_name)
    truth = _series(y_true, names.target)
    pred = None if y_pred is None else _series(y_pred, names.prediction, len(truth))
    score = None if y_score is None else _score(y_score, names.score, len(truth))
    proba = None if probabilities is None else _proba(probabilities, names, len(truth))
    if pred is None and score is None and proba is None:
        raise DataError(f"{names.prediction}: a prediction, score or probabilities are required")
    window, notes = _labelled(truth, pred, score, proba, names)
    wanted = _Wanted(None if only is None else frozenset(only))
    labelled = len(window.y_true)
    if labelled == 0:
        notes.append("no labelled rows: metrics need labels" if len(truth) else "no rows")
        return PerformanceResult(task, len(truth), 0, {}, "; ".join(notes))
    spread = _Spread()
    if task == "binary_classification":
        values = _binary(window, positive_label, threshold, names, notes, wanted, spread)
    elif task == "multiclass_classification":
        values = _multiclass(window, classes, names, notes, wanted, spread)
    else:
        values = _regression(window, names, notes, spread)
    if only is not None:
        values = {k: v for k, v in values.items() if k in wanted}
    kept = spread.kept(wanted)
    return PerformanceResult(
        task, len(truth), labelled, values, "; ".join(notes),
        kept.errors, kept.denominators, kept.counts,
    )  # fmt: skip


# -- input handling ---------------------------------------------------------------------------


def _names(
    y_true: object,
    y_pred: object,
    y_score: object,
    proba: object,
    target: str | None,
    prediction: str | None,
    score: str | None,
) -> _Names:
    def pick(explicit: str | None, values: object, default: str) -> str:
        if explicit:
            return explicit
        if isinstance(values, pd.Series) and values.name is not None:
            return str(values.name)
        return default

    proba_name = "probabilities"
    if isinstance(proba, pd.DataFrame):
        proba_name = ", ".join(str(c) for c in proba.columns)
    return _Names(
        pick(target, y_true, "y_true"),
        pick(prediction, y_pred, "y_pred"),
        pick(score, y_score, "y_score"),
        proba_name,
    )


def _series(values: Values, name: str, length: int | None = None) -> pd.Series:
    if isinstance(values, pd.Series):
        raw = values.to_numpy()
    elif isinstance(values, np.ndarray):
        raw = values
    else:
        raw = np.asarray(list(values), dtype=object)
    if raw.ndim != 1:
        raise DataError(f"{name}: expected one value per row")
    series = pd.Series(raw)
    if series.dtype == object:
        series = series.infer_objects()
    if length is not None and len(series) != length:
        raise DataError(f"{name}: {len(series)} values for {length} rows")
    return series


def _numeric(series: pd.Series, name: str, what: str) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(series) or series.isna().all()):
        converted = pd.to_numeric(series, errors="coerce")
        bad = int((converted.isna() & series.notna()).sum())
        if bad:
            raise DataError(f"{name}: {what} column holds {bad} non-numeric values")
        series = converted
    values = series.to_numpy(dtype=float, na_value=np.nan)
    infinite = int(np.isinf(values).sum())
    if infinite:
        raise DataError(f"{name}: {what} column holds {infinite} infinite values")
    return values


def _score(values: Values, name: str, length: int) -> np.ndarray:
    score = _numeric(_series(values, name, length), name, "score")
    _check_unit_interval(score, name)
    return score


def _check_unit_interval(values: np.ndarray, name: str) -> None:
    outside = int(((values < 0) | (values > 1)).sum())
    if outside:
        low, high = np.nanmin(values), np.nanmax(values)
        raise DataError(f"{name}: {outside} values outside [0, 1] (min {low:.6g}, max {high:.6g})")


def _proba(values: Probabilities, names: _Names, length: int) -> np.ndarray:
    frame = pd.DataFrame(values.to_numpy() if isinstance(values, pd.DataFrame) else values)
    if len(frame) != length:
        raise DataError(f"{names.probabilities}: {len(frame)} rows for {length} rows")
    columns = [_numeric(frame[c], names.probabilities, "probability") for c in frame.columns]
    proba = np.column_stack(columns) if columns else np.empty((length, 0))
    _check_unit_interval(proba, names.probabilities)
    return proba


def _labelled(
    truth: pd.Series,
    pred: pd.Series | None,
    score: np.ndarray | None,
    proba: np.ndarray | None,
    names: _Names,
) -> tuple[_Window, list[str]]:
    """Keep rows with a label and every given prediction input; count what was dropped."""
    labelled = truth.notna().to_numpy()
    usable = labelled.copy()
    if pred is not None:
        usable &= pred.notna().to_numpy()
    if score is not None:
        usable &= ~np.isnan(score)
    if proba is not None:
        usable &= ~np.isnan(proba).any(axis=1)
    notes = []
    unlabelled = int((~labelled).sum())
    if unlabelled:
        notes.append(f"{unlabelled} rows without a label in {names.target} dropped")
    incomplete = int((labelled & ~usable).sum())
    if incomplete:
        notes.append(f"{incomplete} labelled rows without a prediction/score dropped")
    window = _Window(
        y_true=truth.to_numpy()[usable],
        y_pred=None if pred is None else pred.to_numpy()[usable],
        score=None if score is None else score[usable],
        proba=None if proba is None else proba[usable],
    )
    return window, notes


# -- binary -----------------------------------------------------------------------------------


def _binary(
    window: _Window,
    positive_label: object,
    threshold: float,
    names: _Names,
    notes: list[str],
    wanted: _Wanted,
    spread: _Spread,
) -> dict[str, float]:
    labels = _distinct(window.y_true, window.y_pred)
    if len(labels) > 2:
        shown = ", ".join(repr(x) for x in labels[:5])
        raise DataError(f"{names.target}: binary task but {len(labels)} labels ({shown})")
    positive = _positive(labels, positive_label, names)
    truth = _equals(window.y_true, positive)
    if window.y_pred is not None:
        pred = _equals(window.y_pred, positive)
    elif window.score is not None:
        pred = (window.score >= threshold).astype(int)
    else:
        raise DataError(f"{names.prediction}: a binary task needs a prediction or a score")
    positives = int(truth.sum())
    spread.counts.update(positives=positives, negatives=int(truth.size) - positives)
    values = _label_metrics(truth, pred, notes) if wanted.any(_LABEL_METRICS) else {}
    if values:
        _label_errors(values, spread)
    if window.score is not None:
        values.update(_score_metrics(truth, window.score, notes, wanted, spread))
    return values


def _distinct(*arrays: np.ndarray | None) -> list[object]:
    found: list[object] = []
    for array in arrays:
        if array is not None:
            found.extend(pd.unique(array))
    unique = list(dict.fromkeys(found))
    try:
        return sorted(unique)  # type: ignore[type-var]
    except TypeError:
        return unique


def _positive(labels: list[object], positive_label: object, names: _Names) -> object:
    """The label standing for the positive class; ``"1"`` from YAML matches a numeric 1."""
    if positive_label is None:
        if all(_is_number(x) and float(x) in (0.0, 1.0) for x in labels):  # type: ignore[arg-type]
            return 1
        shown = ", ".join(repr(x) for x in labels[:5])
        raise DataError(f"{names.target}: set positive_label for labels ({shown})")
    for label in labels:
        if label == positive_label or str(label) == str(positive_label):
            return label
        if _is_number(label) and _as_float(positive_label) == float(label):  # type: ignore[arg-type]
            return label
    return positive_label


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, str)


def _as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _equals(values: np.ndarray, positive: object) -> np.ndarray:
    return (pd.Series(values) == positive).to_numpy(dtype=int)


def _label_metrics(truth: np.ndarray, pred: np.ndarray, notes: list[str]) -> dict[str, float]:
    """Accuracy, precision, recall, F1, positive rate and confusion counts from one ``bincount``.

    sklearn's ``accuracy_score`` and ``precision_recall_fscore_support(average="binary")``
    reduce to these divisions of integer counts (F1 as ``2 tp / (2 tp + fn + fp)``); on exact
    integers both round once, so the values are bitwise equal (tests/stats/test_performance.py),
    and skipping sklearn's input validation saves ~0.5 s at 1,000,000 rows.
    """
    tn, fp, fn, tp = (int(x) for x in np.bincount(2 * truth + pred, minlength=4))
    values = {"accuracy": (tp + tn) / (tp + tn + fp + fn)}
    ratios = {
        "precision": (tp, tp + fp, "no predicted positive"),
        "recall": (tp, tp + fn, "no positive label"),
        "f1": (2 * tp, 2 * tp + fp + fn, "no positive label or prediction"),
    }
    for name, (numerator, denominator, why) in ratios.items():
        if denominator > 0:
            values[name] = numerator / denominator
        else:
            notes.append(f"{name} undefined: {why}")
    values["positive_rate"] = float(np.mean(pred))
    values.update({"tp": float(tp), "fp": float(fp), "tn": float(tn), "fn": float(fn)})
    return values


def _label_errors(values: Mapping[str, float], spread: _Spread) -> None:
    """Each label metric's rate over its own denominator (F1: ``_f1_denominator``)."""
    tp, fp, tn, fn = (values[k] for k in ("tp", "fp", "tn", "fn"))
    n = tp + fp + tn + fn
    spread.rate("accuracy", tp + tn, n)
    spread.rate("positive_rate", tp + fp, n)
    spread.rate("precision", tp, tp + fp)
    spread.rate("recall", tp, tp + fn)
    effective = float(_f1_denominator(np.array([tp]), np.array([fp]), np.array([fn]))[0])
    spread.rate("f1", values.get("f1", 0.0) * effective, effective)


def _f1_denominator(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1's effective denominator: the binomial variance over it is F1's delta-method one."""
    union = (tp + fp + fn).astype(float)
    squared = (2 * tp + fp + fn).astype(float) ** 2
    effective: np.ndarray = np.divide(squared, 2 * union, out=np.zeros_like(union), where=union > 0)
    return effective


def _score_metrics(
    truth: np.ndarray, score: np.ndarray, notes: list[str], wanted: _Wanted, spread: _Spread
) -> dict[str, float]:
    values = {}
    if wanted.any(("log_loss",)):
        values["log_loss"] = float(skm.log_loss(truth, score, labels=[0, 1]))
        spread.mean("log_loss", _row_log_loss(truth, score))
    if wanted.any(("brier",)):
        values["brier"] = float(skm.brier_score_loss(truth, score, pos_label=1, labels=[0, 1]))
        spread.mean("brier", (truth - score) ** 2)
    if not wanted.any(("roc_auc", "pr_auc")):
        return values
    if len(np.unique(truth)) == 2:
        # Pre-sorted descending once: sklearn's own stable argsort then runs in linear time
        # (2.7 s instead of 4.9 s for all metrics at 1,000,000 rows). Both curves
        # aggregate tied scores and sum integer labels, so the values are bitwise the same.
        order = np.argsort(score, kind="stable")[::-1]
        truth, score = truth[order], score[order]
        values["roc_auc"] = float(skm.roc_auc_score(truth, score))
        values["pr_auc"] = float(skm.average_precision_score(truth, score))
        _auc_error(values["roc_auc"], truth, score, spread)
    else:
        which = "positive" if truth[0] == 1 else "negative"
        notes.append(f"roc_auc, pr_auc undefined: every label is {which}")
    return values


def _auc_error(auc: float, truth: np.ndarray, score: np.ndarray, spread: _Spread) -> None:
    """DeLong's standard error (Hanley-McNeil's when a class has a single row)."""
    positive = truth.astype(bool)
    positives = int(positive.sum())
    spread.errors["roc_auc"] = auc_standard_error(
        auc, positives, truth.size - positives, score, positive
    )
    spread.denominators["roc_auc"] = int(truth.size)


def _row_log_loss(truth: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each row's log loss, probabilities clipped as sklearn clips them."""
    eps = np.finfo(score.dtype).eps
    p = np.clip(score, eps, 1 - eps)
    return np.asarray(-(truth * np.log(p) + (1 - truth) * np.log(1 - p)))


# -- multiclass -------------------------------------------------------------------------------


def _multiclass(
    window: _Window,
    classes: Sequence[object] | None,
    names: _Names,
    notes: list[str],
    wanted: _Wanted,
    spread: _Spread,
) -> dict[str, float]:
    truth = window.y_true
    known, pred = _multiclass_inputs(window, classes, names)
    present = _distinct(truth)
    support: dict[object, int] = {k: int(v) for k, v in pd.Series(truth).value_counts().items()}
    spread.counts.update({f"class={label}": support[label] for label in present})
    values: dict[str, float] = {}
    if "accuracy" in wanted:
        values["accuracy"] = float(skm.accuracy_score(truth, pred))
        spread.rate("accuracy", values["accuracy"] * truth.size, truth.size)
    for average in ("macro", "weighted"):
        if f"f1_{average}" in wanted:
            f1 = skm.f1_score(truth, pred, average=average, zero_division=0.0)
            values[f"f1_{average}"] = float(f1)
    if wanted.any(("f1_macro", "f1_weighted")):
        _f1_average_errors(truth, pred, spread)
    if wanted.names is None or any(n.startswith(_CLASS_RECALL) for n in wanted.names):
        recalls = skm.recall_score(truth, pred, labels=present, average=None, zero_division=0.0)
        for label, recall in zip(present, recalls, strict=True):
            name = class_metric_name("recall", label)
            values[name] = float(recall)
            spread.rate(name, recall * support[label], support[label])
    if window.proba is not None and known is not None and "log_loss" in wanted:
        values["log_loss"] = float(skm.log_loss(truth, window.proba, labels=known))
    return values


def _f1_average_errors(truth: np.ndarray, pred: np.ndarray, spread: _Spread) -> None:
    """Macro / weighted F1's standard errors from the per-class F1s taken as independent rates.

    Over sklearn's labels (those in the truth or the predictions); each class's F1 is a rate over
    ``_f1_denominator`` with the Wilson-centred variance of ``_Spread.rate``.
    """
    labels = _distinct(truth, pred)
    matrix = skm.confusion_matrix(truth, pred, labels=labels).astype(float)
    tp = np.diag(matrix)
    fp, fn = matrix.sum(axis=0) - tp, matrix.sum(axis=1) - tp
    effective = _f1_denominator(tp, fp, fn)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=effective > 0)
    centre = (f1 * effective + 2.0) / (effective + 4.0)
    variance = centre * (1 - centre) / (effective + 4.0)
    weights = (tp + fn) / truth.size
    spread.errors["f1_macro"] = float(np.sqrt(variance.sum()) / len(labels))
    spread.errors["f1_weighted"] = float(np.sqrt((weights**2 * variance).sum()))
    spread.denominators.update(f1_macro=int(truth.size), f1_weighted=int(truth.size))


def _multiclass_inputs(
    window: _Window, classes: Sequence[object] | None, names: _Names
) -> tuple[list[object] | None, np.ndarray]:
    """The label of each probability column, and the predictions (argmax when not given)."""
    known = list(classes) if classes is not None else None
    if window.proba is not None and known is None:
        known = _distinct(window.y_true, window.y_pred)
        if len(known) != window.proba.shape[1]:
            raise DataError(
                f"{names.probabilities}: {window.proba.shape[1]} probability columns but "
                f"{len(known)} labels seen; pass classes (label of each column, in order)"
            )
    if window.y_pred is not None:
        return known, window.y_pred
    if window.proba is None or known is None:
        raise DataError(f"{names.prediction}: a multiclass task needs predictions")
    return known, np.asarray(known, dtype=object)[np.argmax(window.proba, axis=1)]


# -- regression -------------------------------------------------------------------------------


def _regression(
    window: _Window, names: _Names, notes: list[str], spread: _Spread
) -> dict[str, float]:
    if window.y_pred is None:
        raise DataError(f"{names.prediction}: a regression task needs predictions")
    truth = _numeric(pd.Series(window.y_true), names.target, "target")
    pred = _numeric(pd.Series(window.y_pred), names.prediction, "prediction")
    values = {
        "mae": float(skm.mean_absolute_error(truth, pred)),
        "rmse": float(skm.root_mean_squared_error(truth, pred)),
    }
    _error_spreads(truth - pred, values["rmse"], spread)
    zeros = int((truth == 0).sum())
    if zeros:
        notes.append(f"mape undefined: {zeros} zero values in {names.target}")
    else:
        values["mape"] = float(skm.mean_absolute_percentage_error(truth, pred))
        spread.mean("mape", np.abs((truth - pred) / truth))
    if len(truth) >= 2:
        values["r2"] = float(skm.r2_score(truth, pred))
    else:
        notes.append("r2 undefined: fewer than 2 labelled rows")
    return values


def _error_spreads(errors: np.ndarray, rmse: float, spread: _Spread) -> None:
    """MAE's standard error; RMSE's by the delta method, SE(MSE) / (2 RMSE)."""
    spread.mean("mae", np.abs(errors))
    spread.mean("rmse", errors**2)
    if "rmse" in spread.errors:
        spread.errors["rmse"] = spread.errors["rmse"] / (2 * rmse) if rmse > 0 else 0.0


# -- binary classification from mergeable counts (a distributed engine's partitions) ----------

SCORE_BINS = 65_536
"""Fixed score bins of ``BinaryCounts``: ROC AUC, PR AUC and DeLong's error are read off them."""


@dataclass(frozen=True, eq=False)
class BinaryCounts:
    """A binary window's performance as counts that merge exactly across partitions.

    Keyed by the raw label values (the positive label is resolved once all are known):
    ``cells[(label, decision)]`` counts usable rows (decision: the prediction's value, or
    ``score >= threshold`` without a prediction column); per label, the scores' histogram on
    ``SCORE_BINS`` fixed bins of [0, 1] and sums of each row's log loss / Brier terms and their
    squares for either side being positive. ``finish`` gives the ``compute_performance`` result:
    label metrics, log loss and Brier equal (integer divisions; means and their standard errors
    from sums, 1e-9 relative); ROC AUC and DeLong's error from the binned scores, ties inside a
    bin counted one half, so ``|auc - exact| <= auc_tolerance`` (the pairs sharing a bin over
    all pairs, 1e-4 at 1,000,000 rows of benchmarks/_data.py, measured |delta| < 1e-6); PR AUC
    on the binned scores (measured |delta| < 1e-4).
    """

    rows: int
    unlabelled: int
    incomplete: int
    cells: Mapping[tuple[object, object], int]
    histograms: Mapping[object, IntArray]
    sums: Mapping[object, FloatArray]  # per label: log-loss pos/neg, squares; brier pos/neg, sq
    score_range: tuple[float, float] | None

    @classmethod
    def of(
        cls,
        y_true: Values,
        y_pred: Values | None,
        *,
        y_score: Values | None = None,
        threshold: float = 0.5,
        target_name: str = "y_true",
        prediction_name: str = "y_pred",
        score_name: str = "y_score",
    ) -> BinaryCounts:
        """The counts of one partition (same validation as ``compute_performance``)."""
        names = _Names(target_name, prediction_name, score_name, "probabilities")
        truth = _series(y_true, names.target)
        pred = None if y_pred is None else _series(y_pred, names.prediction, len(truth))
        score = None
        if y_score is not None:
            score = _numeric(_series(y_score, names.score, len(truth)), names.score, "score")
        if pred is None and score is None:
            raise DataError(f"{names.prediction}: a prediction or a score is required")
        window, _ = _labelled(truth, pred, score, None, names)
        labelled = int(truth.notna().sum())
        decision = (
            window.y_pred if window.y_pred is not None else window.score >= threshold  # type: ignore[operator]
        )
        keys = pd.DataFrame({"label": window.y_true, "decision": decision})
        counted = keys.groupby(["label", "decision"], sort=False).size()
        cells = {cast(tuple[object, object], key): int(n) for key, n in counted.items()}
        histograms: dict[object, IntArray] = {}
        sums: dict[object, FloatArray] = {}
        score_range = None
        if window.score is not None and window.score.size:
            score_range = (float(np.min(window.score)), float(np.max(window.score)))
            for label in pd.unique(window.y_true):
                chosen = window.score[window.y_true == label]
                histograms[label] = _score_histogram(chosen)
                sums[label] = _loss_sums(chosen)
        return cls(
            len(truth), len(truth) - labelled, labelled - len(window.y_true), cells,
            histograms, sums, score_range,
        )  # fmt: skip

    def merge(self, other: BinaryCounts) -> BinaryCounts:
        cells = dict(self.cells)
        for key, n in other.cells.items():
            cells[key] = cells.get(key, 0) + n
        histograms, sums = dict(self.histograms), dict(self.sums)
        for label, hist in other.histograms.items():
            histograms[label] = histograms[label] + hist if label in histograms else hist
            sums[label] = sums[label] + other.sums[label] if label in sums else other.sums[label]
        ranges = [r for r in (self.score_range, other.score_range) if r is not None]
        score_range = (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None
        return BinaryCounts(
            self.rows + other.rows, self.unlabelled + other.unlabelled,
            self.incomplete + other.incomplete, cells, histograms, sums, score_range,
        )  # fmt: skip

    def finish(
        self,
        *,
        positive_label: object = None,
        target_name: str = "y_true",
        score_name: str = "y_score",
        has_score: bool,
    ) -> PerformanceResult:
        """The ``compute_performance`` result of all the merged rows (see the class doc)."""
        names = _Names(target_name, "", score_name, "probabilities")
        if self.score_range is not None:
            low, high = self.score_range
            if low < 0 or high > 1:
                raise DataError(
                    f"{score_name}: values outside [0, 1] (min {low:.6g}, max {high:.6g})"
                )
        notes = []
        if self.unlabelled:
            notes.append(f"{self.unlabelled} rows without a label in {target_name} dropped")
        if self.incomplete:
            notes.append(f"{self.incomplete} labelled rows without a prediction/score dropped")
        labelled = sum(self.cells.values())
        if labelled == 0:
            notes.append("no labelled rows: metrics need labels" if self.rows else "no rows")
            return PerformanceResult("binary_classification", self.rows, 0, {}, "; ".join(notes))
        truths = list(dict.fromkeys(label for label, _ in self.cells))
        decisions = [d for _, d in self.cells if not isinstance(d, (bool, np.bool_))]
        labels = _distinct(np.asarray(truths, dtype=object), np.asarray(decisions, dtype=object))
        if len(labels) > 2:
            shown = ", ".join(repr(x) for x in labels[:5])
            raise DataError(f"{target_name}: binary task but {len(labels)} labels ({shown})")
        positive = _positive(labels, positive_label, names)

        def is_positive(value: object) -> bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            return bool(value == positive)  # _positive returned the data's own label

        tn = fp = fn = tp = 0
        for (label, decision), n in self.cells.items():
            truth, pred = is_positive(label), is_positive(decision)
            tp, fp = tp + n * (truth and pred), fp + n * (not truth and pred)
            fn, tn = fn + n * (truth and not pred), tn + n * (not truth and not pred)
        spread = _Spread()
        spread.counts.update(positives=tp + fn, negatives=tn + fp)
        values = _label_metrics_from_counts(tn, fp, fn, tp, notes)
        _label_errors(values, spread)
        if has_score:
            values.update(self._score_metrics(is_positive, notes, spread))
        return PerformanceResult(
            "binary_classification", self.rows, labelled, values, "; ".join(notes),
            spread.errors, spread.denominators, spread.counts,
        )  # fmt: skip

    def _score_metrics(
        self, is_positive: Callable[[object], bool], notes: list[str], spread: _Spread
    ) -> dict[str, float]:
        positive_hist = np.zeros(SCORE_BINS, np.int64)
        negative_hist = np.zeros(SCORE_BINS, np.int64)
        sums = np.zeros(8)
        for label, hist in self.histograms.items():
            side = is_positive(label)
            if side:
                positive_hist += hist
            else:
                negative_hist += hist
            # [loss if positive, loss if negative, their squares, brier likewise]
            s = self.sums[label]
            sums += (
                np.array([s[0], 0, s[2], 0, s[4], 0, s[6], 0])
                if side
                else np.array([0, s[1], 0, s[3], 0, s[5], 0, s[7]])
            )
        n = int(positive_hist.sum() + negative_hist.sum())
        values: dict[str, float] = {}
        for metric, total, squares in (
            ("log_loss", sums[0] + sums[1], sums[2] + sums[3]),
            ("brier", sums[4] + sums[5], sums[6] + sums[7]),
        ):
            values[metric] = float(total / n)
            if n >= 2:
                variance = max((squares - total * total / n) / (n - 1), 0.0)
                spread.errors[metric] = float(np.sqrt(variance) / np.sqrt(n))
                spread.denominators[metric] = n
        positives, negatives = int(positive_hist.sum()), int(negative_hist.sum())
        if positives == 0 or negatives == 0:
            notes.append(
                f"roc_auc, pr_auc undefined: every label is "
                f"{'negative' if positives == 0 else 'positive'}"
            )
            return values
        auc, error = _binned_auc(positive_hist, negative_hist)
        values["roc_auc"] = auc
        values["pr_auc"] = _binned_average_precision(positive_hist, negative_hist)
        spread.errors["roc_auc"] = error
        spread.denominators["roc_auc"] = n
        return values

    def auc_tolerance(self, *, positive_label: object) -> float:
        """Largest possible |binned - exact| ROC AUC: half the pairs that share a bin."""
        positive, negative = np.zeros(SCORE_BINS), np.zeros(SCORE_BINS)
        for label, hist in self.histograms.items():
            if label == positive_label or str(label) == str(positive_label):
                positive += hist
            else:
                negative += hist
        pairs = float(positive.sum() * negative.sum())
        return float(0.5 * (positive * negative).sum() / pairs) if pairs else 0.0


def _score_histogram(score: np.ndarray) -> IntArray:
    bins = np.minimum((score * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)
    return np.bincount(bins, minlength=SCORE_BINS).astype(np.int64)


def _loss_sums(score: np.ndarray) -> FloatArray:
    """Sums of the log loss and Brier terms (and squares) for the rows being positive or not."""
    eps = np.finfo(np.float64).eps
    p = np.clip(score, eps, 1 - eps)
    if_positive, if_negative = -np.log(p), -np.log(1 - p)
    brier_positive, brier_negative = (1 - score) ** 2, score**2
    return np.array(
        [
            if_positive.sum(), if_negative.sum(),
            (if_positive**2).sum(), (if_negative**2).sum(),
            brier_positive.sum(), brier_negative.sum(),
            (brier_positive**2).sum(), (brier_negative**2).sum(),
        ]
    )  # fmt: skip


def _label_metrics_from_counts(
    tn: int, fp: int, fn: int, tp: int, notes: list[str]
) -> dict[str, float]:
    """``_label_metrics`` from the four counts (the same integer divisions)."""
    values = {"accuracy": (tp + tn) / (tp + tn + fp + fn)}
    ratios = {
        "precision": (tp, tp + fp, "no predicted positive"),
        "recall": (tp, tp + fn, "no positive label"),
        "f1": (2 * tp, 2 * tp + fp + fn, "no positive label or prediction"),
    }
    for name, (numerator, denominator, why) in ratios.items():
        if denominator > 0:
            values[name] = numerator / denominator
        else:
            notes.append(f"{name} undefined: {why}")
    values["positive_rate"] = (tp + fp) / (tp + tn + fp + fn)
    values.update({"tp": float(tp), "fp": float(fp), "tn": float(tn), "fn": float(fn)})
    return values


def _binned_auc(positive: IntArray, negative: IntArray) -> tuple[float, float]:
    """ROC AUC and DeLong's standard error with each bin's scores tied (placements per bin)."""
    m, n = float(positive.sum()), float(negative.sum())
    negatives_below = np.cumsum(negative) - negative
    positives_above = m - np.cumsum(positive)
    v10 = (negatives_below + 0.5 * negative) / n  # each positive of the bin
    v01 = (positives_above + 0.5 * positive) / m  # each negative of the bin
    auc = float((positive * v10).sum() / m)
    if m < 2 or n < 2:
        return auc, hanley_mcneil_auc(auc, int(m), int(n))
    var10 = float((positive * (v10 - auc) ** 2).sum() / (m - 1))
    var01 = float((negative * (v01 - auc) ** 2).sum() / (n - 1))
    return auc, float(np.sqrt(max(var10 / m + var01 / n, 0.0)))


def _binned_average_precision(positive: IntArray, negative: IntArray) -> float:
    """sklearn's average precision with each bin one tied score (thresholds high to low)."""
    tp = np.cumsum(positive[::-1])
    fp = np.cumsum(negative[::-1])
    used = (positive[::-1] + negative[::-1]) > 0
    tp, fp = tp[used], fp[used]
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))

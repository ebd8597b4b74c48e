"""Threshold evaluation, absent input against too little data, and health folding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, health
from mlflow_monitor.spec import MetricCheck, SegmentsSpec
from mlflow_monitor.stats.performance import PerformanceResult, compute_performance
from mlflow_monitor.stats.segments import SegmentReport, SegmentResult
from mlflow_monitor.verdicts.thresholds import evaluate_metric_check
from mlflow_monitor.verdicts.window_checks import performance_outcomes, segment_outcomes


def test_static_min_violation_is_fail_for_critical() -> None:
    out = evaluate_metric_check(MetricCheck(metric="roc_auc", min=0.7), 0.65)
    assert out.status == "fail"
    assert out.threshold == AppliedThreshold(0.7, None, "static")


def test_warning_severity_gives_warn() -> None:
    out = evaluate_metric_check(MetricCheck(metric="f1", min=0.7, severity="warning"), 0.5)
    assert out.status == "warn"


def test_drop_against_baseline_absolute_and_relative() -> None:
    absolute = MetricCheck(metric="roc_auc", max_drop=0.05)
    assert evaluate_metric_check(absolute, 0.86, baseline=0.9).status == "pass"
    assert evaluate_metric_check(absolute, 0.84, baseline=0.9).status == "fail"
    relative = MetricCheck(metric="mae", max_rise=0.1, relative=True)
    out = evaluate_metric_check(relative, 2.3, baseline=2.0)
    assert out.status == "fail"
    assert out.threshold is not None and out.threshold.upper == pytest.approx(2.2)
    assert out.threshold.source == "baseline"


@pytest.mark.parametrize("value", [None, math.nan, math.inf])
def test_missing_value_is_insufficient_never_pass(value: float | None) -> None:
    out = evaluate_metric_check(MetricCheck(metric="roc_auc", min=0.7), value)
    assert out.status == "insufficient_data"


def test_history_bound_is_applied() -> None:
    bound = AppliedThreshold(0.8, 0.9, "history", "median 0.85 +/- 3 MAD")
    check = MetricCheck(metric="accuracy", min=0.1)
    out = evaluate_metric_check(check, 0.7, history_bound=bound)
    assert out.status == "fail"
    assert out.threshold is bound


def _outcome(status: str) -> CheckOutcome:
    return CheckOutcome("x", "test", status, "critical", 1.0, None, "")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "healthy"),
        (["pass", "insufficient_data"], "healthy"),
        (["pass", "not_evaluated", "insufficient_data"], "healthy"),  # not judged: not firing
        (["warn", "not_evaluated"], "warning"),
        (["pass", "warn"], "warning"),
        (["warn", "fail"], "critical"),
        (["fail", "error"], "error"),
    ],
)
def test_health_is_the_worst_outcome(statuses: list[str], expected: str) -> None:
    assert health([_outcome(s) for s in statuses]) == expected


# -- absent input (not_evaluated) against too little data (insufficient_data) -------------------

AUC = MetricCheck(metric="roc_auc", max_drop=0.05)
F1 = MetricCheck(metric="f1", max_drop=0.05, severity="warning")
LABELS = np.array([0, 1] * 50)
SCORES = np.linspace(0.01, 0.99, 100)


def _baseline() -> PerformanceResult:
    return compute_performance("binary_classification", LABELS, None, y_score=SCORES)


def _by_id(outcomes: list[CheckOutcome]) -> dict[str, CheckOutcome]:
    return {o.check_id: o for o in outcomes}


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        (None, "no labels in the window (no target column)"),
        (
            compute_performance(
                "binary_classification", [np.nan] * 100, None, y_score=SCORES
            ),  # all-missing target
            "no labels in the window",
        ),
        (compute_performance("binary_classification", [], None, y_score=[]), "no labels"),
    ],
    ids=["no-target-column", "all-missing-target", "empty-window"],
)
def test_window_without_labels_is_not_evaluated_with_the_reason(
    window: PerformanceResult | None, reason: str
) -> None:
    outcomes = _by_id(performance_outcomes(window, _baseline(), [AUC, F1]))
    for check_id in ("performance/roc_auc", "performance/f1"):
        outcome = outcomes[check_id]
        assert outcome.status == "not_evaluated" and outcome.value is None
        assert str(outcome.evidence["reason"]).startswith(reason)
        assert "not evaluated, no labels in the window" in outcome.message
        assert not outcome.firing
    assert outcomes["performance/roc_auc"].severity == "critical"
    assert health(outcomes.values()) == "healthy"


def test_score_metric_without_a_score_is_not_evaluated_label_metrics_are_judged() -> None:
    predictions = (SCORES >= 0.5).astype(int)
    window = compute_performance("binary_classification", LABELS, predictions)
    base = compute_performance("binary_classification", LABELS, predictions, y_score=SCORES)
    outcomes = _by_id(performance_outcomes(window, base, [AUC, F1]))
    auc = outcomes["performance/roc_auc"]
    assert auc.status == "not_evaluated"
    assert auc.evidence["reason"] == "no score column for roc_auc"
    assert outcomes["performance/f1"].status == "pass"
    assert outcomes["performance/f1"].evidence["labelled_rows"] == 100


def test_baseline_without_the_metric_is_not_evaluated() -> None:
    window = compute_performance("binary_classification", LABELS, None, y_score=SCORES)
    [outcome] = performance_outcomes(window, None, [AUC])
    assert outcome.status == "not_evaluated"
    assert outcome.evidence["reason"] == "no baseline value for roc_auc"


def test_metric_the_labels_leave_undefined_is_insufficient_with_counts_and_why() -> None:
    one_class = compute_performance(
        "binary_classification", np.ones(40, dtype=int), None, y_score=SCORES[:40]
    )
    [outcome] = performance_outcomes(one_class, _baseline(), [AUC])
    assert outcome.status == "insufficient_data"
    assert outcome.evidence["rows"] == 40 and outcome.evidence["labelled_rows"] == 40
    assert "every label is positive" in outcome.message


def _segment(segment: str, rows: int, labelled: int, value: float | None) -> SegmentResult:
    small = rows < 100
    return SegmentResult(
        "region",
        segment,
        rows,
        500,
        "insufficient_data" if small else "ok",
        "roc_auc",
        value=value,
        baseline_value=0.8,
        change=None if value is None else value - 0.8,
        degradation=None if value is None else 0.8 - value,
        labelled_rows=labelled,
        note=f"{rows} rows in the window, below min_size 100" if small else "",
    )


def test_small_segment_is_insufficient_with_counts_unlabelled_one_is_not_evaluated() -> None:
    report = SegmentReport(
        "roc_auc",
        100,
        (
            _segment("north", 400, 400, 0.79),
            _segment("tiny", 12, 12, None),
            _segment("east", 300, 0, None),
        ),
    )
    outcomes = _by_id(segment_outcomes(report, SegmentsSpec(severity="critical")))
    assert outcomes["segment/region=north"].status == "pass"
    tiny = outcomes["segment/region=tiny"]
    assert tiny.status == "insufficient_data" and "below min_size 100" in tiny.message
    assert (tiny.evidence["rows"], tiny.evidence["min_size"]) == (12, 100)
    east = outcomes["segment/region=east"]
    assert east.status == "not_evaluated" and east.evidence["labelled_rows"] == 0
    assert east.evidence["reason"] == "no labels in the segment (300 rows)"

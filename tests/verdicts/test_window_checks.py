"""Threshold evaluation and health folding."""

from __future__ import annotations

import math

import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, health
from mlflow_monitor.spec import MetricCheck
from mlflow_monitor.verdicts.thresholds import evaluate_metric_check


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
        (["pass", "warn"], "warning"),
        (["warn", "fail"], "critical"),
        (["fail", "error"], "error"),
    ],
)
def test_health_is_the_worst_outcome(statuses: list[str], expected: str) -> None:
    assert health([_outcome(s) for s in statuses]) == expected

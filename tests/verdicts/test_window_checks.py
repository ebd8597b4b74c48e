"""Threshold evaluation, absent input against too little data, and health folding."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, health
from mlflow_monitor.spec import DriftSpec, MetricCheck, SegmentsSpec
from mlflow_monitor.stats.drift import ColumnDrift, DriftReport
from mlflow_monitor.stats.intervals import difference_interval, newcombe, wilson
from mlflow_monitor.stats.performance import (
    PerformanceResult,
    compute_performance,
    higher_is_better,
)
from mlflow_monitor.stats.segments import (
    MetricSpread,
    SegmentBaseline,
    SegmentReport,
    SegmentResult,
    compute_segments,
    reference_segments,
)
from mlflow_monitor.verdicts.thresholds import evaluate_metric_check
from mlflow_monitor.verdicts.window_checks import (
    drift_outcomes,
    performance_outcomes,
    segment_outcomes,
)


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


# -- segment drops judged with their confidence interval ------------------------------------------

SEGMENTS = ("a", "b", "c", "d")


def _judged_drop(
    value: float,
    baseline: float,
    error: float,
    *,
    metric: str = "roc_auc",
    method: str = "delong",
    denominators: tuple[int, int] = (250, 2000),
) -> SegmentResult:
    """A segment whose window and baseline values carry standard errors."""
    window = MetricSpread(error, method, denominators[0], {"positives": 75, "negatives": 175})
    base = MetricSpread(error, method, denominators[1], {"positives": 600, "negatives": 1400})
    change = value - baseline
    return SegmentResult(
        "region", "west", denominators[0], denominators[1], "ok", metric, value=value,
        baseline_value=baseline, change=change,
        degradation=-change if higher_is_better(metric) else change,
        labelled_rows=denominators[0], spread=window, baseline_spread=base,
    )  # fmt: skip


def _judge(result: SegmentResult, severity: str = "warning") -> CheckOutcome:
    report = SegmentReport(result.metric, 100, (result,), min_class_size=20, level=0.95)
    [outcome] = segment_outcomes(report, SegmentsSpec(severity=severity))  # type: ignore[arg-type]
    return outcome


def test_drop_wholly_beyond_max_drop_is_a_finding_with_its_interval_and_counts() -> None:
    outcome = _judge(_judged_drop(0.6, 0.8, 0.01))
    low, high = difference_interval(0.8, 0.01, 0.6, 0.01, level=0.95)
    assert outcome.status == "warn" and outcome.baseline == 0.8 and outcome.value == 0.6
    assert outcome.interval is not None
    assert (outcome.interval.low, outcome.interval.high) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    assert (outcome.interval.denominator, outcome.interval.reference_denominator) == (250, 2000)
    assert outcome.message == (
        "region=west: roc_auc 0.6, baseline 0.8, drop 0.2 [0.1723, 0.2277] (95% delong "
        "difference of the drop, n=250 vs 2000), max_drop 0.1; classes 75+/175- vs 600+/1400-: "
        "the whole confidence interval lies beyond the line"
    )
    assert (outcome.evidence["positives"], outcome.evidence["reference_negatives"]) == (75, 1400)
    assert _judge(_judged_drop(0.6, 0.8, 0.01), "critical").status == "fail"


@pytest.mark.parametrize(
    ("value", "error", "status", "reason"),
    [
        (0.68, 0.01, "warn", "straddles"),  # beyond the line, interval [0.09, 0.15]: a real drop
        (0.68, 0.05, "insufficient_data", "chance"),  # interval [-0.02, 0.26]: maybe no drop
        (0.75, 0.05, "pass", "within the line"),
    ],
)
def test_drop_near_the_line_or_within_noise(
    value: float, error: float, status: str, reason: str
) -> None:
    outcome = _judge(_judged_drop(value, 0.8, error), "critical")
    assert outcome.status == status and reason in outcome.message


def test_rates_use_newcombe_and_errors_are_oriented_worse_up() -> None:
    recall = _judge(_judged_drop(0.5, 0.7, 0.03, metric="recall", method="wilson"))
    assert recall.interval is not None and recall.interval.method == "newcombe"
    expected = newcombe(1400, 2000, 125, 250, level=0.95)  # baseline - window
    assert (recall.interval.low, recall.interval.high) == pytest.approx(expected)
    rmse = _judge(_judged_drop(3.0, 2.0, 0.1, metric="rmse", method="normal"))
    assert rmse.status == "warn" and "rise 1 [" in rmse.message
    assert rmse.interval is not None and rmse.interval.low > 0.1  # window - baseline
    assert rmse.threshold is not None and rmse.threshold.upper == pytest.approx(2.1)


def test_metric_without_standard_error_is_judged_on_the_estimate_and_says_so() -> None:
    no_error = replace(_judged_drop(0.5, 0.7, 0.0, metric="pr_auc"), spread=None)
    outcome = _judge(no_error)
    assert outcome.status == "warn" and outcome.interval is None
    assert "no confidence interval for pr_auc: judged on the estimate alone" in outcome.message


def _population(rng: np.random.Generator, rows: int, *, decayed: str = "") -> pd.DataFrame:
    """Four segments of ``rows`` rows; a calibrated score (ROC AUC ~0.80, prevalence ~0.33).

    ``decayed``'s score is mostly noise (ROC AUC ~0.60).
    """
    segment = np.repeat(SEGMENTS, rows)
    x = rng.normal(size=segment.size)
    truth = (rng.random(segment.size) < 1 / (1 + np.exp(1.0 - 1.45 * x))).astype(int)
    signal = np.where(segment == decayed, x + 3.0 * rng.normal(size=segment.size), x)
    return pd.DataFrame(
        {"segment": segment, "x": x, "churned": truth, "score": 1 / (1 + np.exp(-signal))}
    )


def _segment_baseline(rows: int) -> SegmentBaseline:
    return reference_segments(
        _population(np.random.default_rng([3, 0]), rows), task="binary_classification",
        segment_columns=["segment"], target="churned", prediction=None, score="score",
        numerical=["x"], categorical=[],
    )  # fmt: skip


def test_clean_250_row_segments_do_not_warn_over_100_windows() -> None:
    """Clean windows of the reference's law: no segment warns (issue 12's noisy segment drops).

    Measured over 1,000 windows of this process (4,000 segment checks): 3 warnings (0.08 %),
    where the point rule also flags 3: at 250 rows 1.96 x the drop's standard error (~0.07) is
    below max_drop, so a chance drop beyond 0.1 is also beyond 0. With 250-row reference
    segments and prevalence 0.15: 9 warnings (0.23 %) where the point rule flags 27.
    """
    baseline, spec = _segment_baseline(2000), SegmentsSpec()
    statuses: Counter[str] = Counter()
    for i in range(100):
        window = _population(np.random.default_rng([3, 1, i]), 250)
        report = compute_segments(
            window, baseline, min_size=spec.min_size, min_class_size=spec.min_class_size
        )
        outcomes = segment_outcomes(report, spec)
        assert all(o.interval is not None for o in outcomes)  # every drop judged with one
        statuses.update(o.status for o in outcomes)
    assert statuses == Counter({"pass": 400})


def test_real_drop_in_a_1000_row_segment_warns_with_its_interval() -> None:
    baseline, spec = _segment_baseline(1000), SegmentsSpec()
    window = _population(np.random.default_rng([3, 2]), 1000, decayed="b")
    report = compute_segments(window, baseline, min_size=spec.min_size)
    outcomes = {o.check_id: o for o in segment_outcomes(report, spec)}
    b = outcomes["segment/segment=b"]
    assert b.status == "warn" and b.baseline is not None and b.value is not None
    assert b.baseline > 0.77 and b.value < 0.65  # ROC AUC ~0.80 -> ~0.60
    assert b.interval is not None and b.interval.low is not None
    assert b.interval.low > spec.max_drop  # the whole interval lies beyond the line
    assert (b.interval.denominator, b.interval.reference_denominator) == (1000, 1000)
    assert {o.status for k, o in outcomes.items() if k != "segment/segment=b"} == {"pass"}


# -- drift: significant and large; performance: the interval is reported, not judged -----------


def _ks(p_value: float, d: float, drifted: bool) -> list[CheckOutcome]:
    column = ColumnDrift(
        "age", "ks", p_value, 0.05, drifted, 500, 500, statistic=d, effect=d,
        effect_name="ks_statistic", min_effect=0.1,
    )  # fmt: skip
    return drift_outcomes(DriftReport((column,)), DriftSpec(), share=False)


def test_drift_message_states_the_test_and_the_effect_each_against_its_line() -> None:
    [drifted] = _ks(0.001, 0.18, True)
    assert drifted.status == "warn"
    assert drifted.message == "age: drifted (ks p=0.001 < 0.05, D=0.18 >= 0.1)"
    assert (drifted.evidence["effect"], drifted.evidence["min_effect"]) == (0.18, 0.1)
    [small] = _ks(1e-6, 0.012, False)
    assert small.status == "pass"
    assert small.message == "age: no drift (ks p=1e-06 < 0.05, D=0.012 < 0.1)"
    [chance] = _ks(0.3, 0.12, False)
    assert chance.message == "age: no drift (ks p=0.3 > 0.05, D=0.12 >= 0.1)"


def test_performance_outcomes_carry_their_interval_and_baseline_but_are_judged_as_before() -> None:
    predictions = (SCORES >= 0.5).astype(int)
    window = compute_performance("binary_classification", LABELS, predictions, y_score=SCORES)
    auc, recall = window.metrics["roc_auc"], window.metrics["recall"]
    baseline = PerformanceResult(
        "binary_classification", 100, 100, {"roc_auc": auc + 0.04, "recall": recall}
    )
    outcomes = _by_id(
        performance_outcomes(window, baseline, [AUC, MetricCheck(metric="recall", max_drop=0.1)])
    )
    judged = outcomes["performance/roc_auc"]
    assert judged.status == "pass" and judged.baseline == auc + 0.04
    spread = 1.959964 * window.standard_errors["roc_auc"]
    assert judged.interval is not None and judged.interval.method == "delong"
    assert judged.interval.low == pytest.approx(auc - spread, rel=1e-6)
    assert judged.threshold is not None and judged.threshold.lower is not None
    assert judged.interval.low < judged.threshold.lower  # straddles the line: still a pass
    rate = outcomes["performance/recall"].interval
    tp, fn = int(window.metrics["tp"]), int(window.metrics["fn"])
    assert rate is not None and (rate.method, rate.denominator) == ("wilson", tp + fn)
    assert (rate.low, rate.high) == pytest.approx(wilson(tp, tp + fn, level=0.95))

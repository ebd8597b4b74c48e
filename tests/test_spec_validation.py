"""Spec load refuses what can never work, in one line naming the key (no data, no MLflow).

Metric names per task, bounds that cannot hold, drift overrides for columns drift never sees,
keys the task cannot use. ``TASK_METRICS`` is the spec's copy of what ``stats.performance``
computes (spec sits below stats); the first tests keep the two equal.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from mlflow_monitor.errors import SpecError
from mlflow_monitor.spec import (
    CLASS_METRIC_PREFIX,
    SCORE_METRICS,
    TASK_METRICS,
    MetricCheck,
    is_task_metric,
    parse_spec,
)
from mlflow_monitor.stats.performance import compute_performance, default_checks, default_metric
from mlflow_monitor.verdicts import window_checks

BASE: dict[str, object] = {
    "model": "churn",
    "task": "binary_classification",
    "columns": {
        "target": "churned",
        "prediction": "pred",
        "score": "score",
        "numerical": ["tenure", "charges"],
        "categorical": ["contract"],
        "protected": ["sex"],
    },
}
BINARY_KNOWN = (
    "accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss, brier, positive_rate, "
    "tp, fp, tn, fn"
)


def _with(**changes: object) -> dict[str, object]:
    """BASE with ``section__key=value`` changes (``None`` removes the key)."""
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return data


def _error(**changes: object) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(_with(**changes))
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix("monitor.yaml: ")


# -- the spec's metric table is what stats computes -----------------------------------------------


def _computed(task: str) -> set[str]:
    """Every metric ``compute_performance`` returns for ``task`` given every input it takes."""
    if task == "binary_classification":
        y = [0, 1, 0, 1, 1, 0, 1, 0]
        score = [0.1, 0.8, 0.6, 0.7, 0.4, 0.2, 0.9, 0.3]
        result = compute_performance(task, y, [int(s >= 0.5) for s in score], y_score=score)
    elif task == "multiclass_classification":
        y = ["a", "b", "c", "a", "b", "c"]
        proba = pd.DataFrame(
            [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]] * 2, columns=["a", "b", "c"]
        )
        result = compute_performance(task, y, None, probabilities=proba, classes=["a", "b", "c"])
    else:
        result = compute_performance(task, [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 4.5])
    return set(result.metrics)


@pytest.mark.parametrize("task", list(TASK_METRICS))
def test_task_metrics_are_what_stats_computes(task: str) -> None:
    computed = _computed(task)
    per_class = {m for m in computed if m.startswith(CLASS_METRIC_PREFIX)}
    assert computed - per_class == set(TASK_METRICS[task])
    assert per_class == (
        {"recall_class_a", "recall_class_b", "recall_class_c"}
        if task == "multiclass_classification"
        else set()
    )
    assert all(is_task_metric(task, m) for m in computed)


@pytest.mark.parametrize("task", list(TASK_METRICS))
def test_defaults_name_task_metrics(task: str) -> None:
    names = [c.metric for c in default_checks(task)] + [default_metric(task)]
    assert all(is_task_metric(task, name) for name in names)


def test_score_metrics_are_the_ones_judged_absent_without_a_score() -> None:
    assert SCORE_METRICS == window_checks.SCORE_METRICS


def test_a_per_class_metric_needs_a_label_and_a_multiclass_task() -> None:
    assert is_task_metric("multiclass_classification", "recall_class_churned")
    assert not is_task_metric("multiclass_classification", CLASS_METRIC_PREFIX)
    assert not is_task_metric("binary_classification", "recall_class_1")


# -- metric names ---------------------------------------------------------------------------------


def test_a_misspelled_check_metric_names_the_key_and_the_known_metrics() -> None:
    message = _error(performance__checks=[{"metric": "roc_acu", "max_drop": 0.05}])
    assert message == (
        "performance.checks.0.metric: 'roc_acu' is not a binary_classification metric "
        f"(known: {BINARY_KNOWN})"
    )


def test_a_metric_of_another_task_is_refused() -> None:
    checks = [{"metric": "roc_auc", "min": 0.7}, {"metric": "rmse", "max": 2.0}]
    assert _error(performance__checks=checks).startswith(
        "performance.checks.1.metric: 'rmse' is not a binary_classification metric"
    )


def test_a_misspelled_segments_metric_is_refused() -> None:
    assert _error(segments__metric="auc") == (
        f"segments.metric: 'auc' is not a binary_classification metric (known: {BINARY_KNOWN})"
    )


def test_multiclass_lists_its_per_class_metric() -> None:
    message = _error(
        task="multiclass_classification",
        positive_label=1,  # the favourable class its protected attribute needs
        columns__score=None,
        performance__checks=[{"metric": "f1", "min": 0.5}],
    )
    assert message == (
        "performance.checks.0.metric: 'f1' is not a multiclass_classification metric "
        "(known: accuracy, f1_macro, f1_weighted, log_loss, recall_class_<label>)"
    )


def test_a_score_metric_without_a_score_column_is_refused() -> None:
    message = _error(columns__score=None, segments__metric="roc_auc")
    assert message == (
        "segments.metric: 'roc_auc' is computed from columns.score, which the spec does not name"
    )


def test_a_metric_checked_twice_is_refused() -> None:
    checks = [{"metric": "f1", "min": 0.5}, {"metric": "f1", "max_drop": 0.1}]
    assert _error(performance__checks=checks) == (
        "performance.checks.1.metric: 'f1' is checked twice (also checks.0); "
        "put its bounds in one check"
    )


def test_valid_metrics_load() -> None:
    spec = parse_spec(
        _with(
            performance__checks=[{"metric": "pr_auc", "min": 0.3}, {"metric": "fn", "max": 40}],
            segments__metric="recall",
        )
    )
    assert [c.metric for c in spec.performance.checks] == ["pr_auc", "fn"]


# -- bounds that cannot hold --------------------------------------------------------------------


def test_min_above_max_is_refused() -> None:
    check = {"metric": "f1", "min": 0.9, "max": 0.5}
    assert _error(performance__checks=[check]) == (
        "performance.checks.0.min: 0.9 is above max 0.5: nothing could pass"
    )


def test_min_above_max_is_refused_outside_a_spec_too() -> None:
    with pytest.raises(ValueError, match=r"0\.9 is above max 0\.5"):
        MetricCheck(metric="f1", min=0.9, max=0.5)


def test_relative_without_a_change_bound_is_refused() -> None:
    check = {"metric": "f1", "min": 0.5, "relative": True}
    assert _error(performance__checks=[check]) == (
        "performance.checks.0.relative: applies to max_drop and max_rise; this check has neither"
    )


def test_a_history_that_can_never_be_long_enough_is_refused() -> None:
    check = {"metric": "f1", "history": {"window": 6, "min_history": 8}}
    assert _error(performance__checks=[check]) == (
        "performance.checks.0.history.min_history: 8 is more than window 6: "
        "the history would never be long enough"
    )


def test_inverted_drift_levels_are_refused() -> None:
    assert _error(drift__share_warning=0.7, drift__share_critical=0.5) == (
        "drift.share_warning: 0.7 is above share_critical 0.5"
    )


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_a_drift_threshold_must_be_a_finite_number_at_least_zero(value: float) -> None:
    assert _error(drift__thresholds={"tenure": value}).startswith("drift.thresholds.tenure: ")


# -- drift overrides name drift columns -----------------------------------------------------------


def test_drift_methods_for_an_unknown_column_is_refused() -> None:
    assert _error(drift__methods={"tenur": "psi"}) == (
        "drift.methods.tenur: not a column drift is computed on "
        "(features, prediction, score: tenure, charges, contract, pred, score)"
    )


def test_drift_thresholds_for_a_non_drift_column_is_refused() -> None:
    # the target and protected columns are not drift columns
    assert _error(drift__thresholds={"churned": 0.2}).startswith(
        "drift.thresholds.churned: not a column drift is computed on"
    )


def test_prediction_overrides_are_refused_when_prediction_drift_is_off() -> None:
    assert _error(drift__prediction=False, drift__methods={"score": "ks"}) == (
        "drift.methods.score: not a column drift is computed on "
        "(drift.prediction is false; features: tenure, charges, contract)"
    )


def test_a_numerical_method_on_a_categorical_column_is_refused() -> None:
    assert _error(drift__methods={"contract": "wasserstein"}) == (
        "drift.methods.contract: method 'wasserstein' needs a numerical column; "
        "'contract' is in columns.categorical"
    )


def test_drift_overrides_on_features_and_outputs_load() -> None:
    spec = parse_spec(
        _with(drift__methods={"tenure": "ks", "score": "psi"}, drift__thresholds={"pred": 0.2})
    )
    assert spec.drift.methods == {"tenure": "ks", "score": "psi"}


# -- keys the task cannot use ---------------------------------------------------------------------


def test_regression_with_a_positive_label_is_refused() -> None:
    data = {"model": "m", "task": "regression", "positive_label": 1, "columns": {"prediction": "p"}}
    with pytest.raises(SpecError, match=r"positive_label: a regression task has no positive label"):
        parse_spec(data)


def test_regression_with_protected_attributes_is_refused() -> None:
    data = {"model": "m", "task": "regression", "columns": {"prediction": "p", "protected": ["s"]}}
    with pytest.raises(
        SpecError, match=r"columns\.protected: fairness metrics need a classification task"
    ):
        parse_spec(data)


def test_an_intersection_of_one_column_is_refused() -> None:
    assert _error(fairness__intersections=[["sex", "sex"]]) == (
        "fairness.intersections.0: an intersection names two or more columns"
    )


def test_a_model_name_mlflow_filters_cannot_quote_is_refused_at_load() -> None:
    """A name with both quote kinds got as far as a logged run, then failed in MLflow's search."""
    with pytest.raises(SpecError, match=r"^monitor\.yaml: model: .*both ' and \""):
        parse_spec({**BASE, "model": "o'brien \"churn\""})
    assert parse_spec({**BASE, "model": "o'brien churn"}).model == "o'brien churn"

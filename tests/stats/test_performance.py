"""Performance metrics equal scikit-learn's exactly; bad input: a defined result or DataError."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.intervals import delong_auc
from mlflow_monitor.stats.performance import (
    PerformanceResult,
    class_metric_name,
    compute_performance,
    default_checks,
    higher_is_better,
)

N = 400

INPUT_TYPES: dict[str, Callable[[np.ndarray], object]] = {
    "numpy": lambda a: a,
    "series": lambda a: pd.Series(a, name="col"),
    "list": lambda a: a.tolist(),
}


@pytest.fixture(params=sorted(INPUT_TYPES))
def as_input(request: pytest.FixtureRequest) -> Callable[[np.ndarray], object]:
    return INPUT_TYPES[request.param]


def _binary(labels: tuple[object, object]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Target, prediction and a score correlated with the target, with labels (neg, pos)."""
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, N)
    score = np.clip(0.35 * truth + rng.random(N) * 0.65, 0, 1)
    pred = (score >= 0.5).astype(int)
    mapping = np.array(labels, dtype=object)
    cast = (lambda a: a) if isinstance(labels[0], int) else (lambda a: mapping[a])
    return cast(truth), cast(pred), score


def _sklearn_binary(
    y: np.ndarray, p: np.ndarray, s: np.ndarray, neg: object, pos: object
) -> dict[str, float]:
    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[neg, pos]).ravel()
    return {
        "accuracy": skm.accuracy_score(y, p),
        "precision": skm.precision_score(y, p, pos_label=pos),
        "recall": skm.recall_score(y, p, pos_label=pos),
        "f1": skm.f1_score(y, p, pos_label=pos),
        "positive_rate": float(np.mean(p == pos)),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        # sklearn reads a 1-D score as P(lexicographically last label): binarize for log loss.
        "log_loss": skm.log_loss(y == pos, s, labels=[False, True]),
        "brier": skm.brier_score_loss(y, s, pos_label=pos),
        "roc_auc": skm.roc_auc_score(y == pos, s),
        "pr_auc": skm.average_precision_score(y, s, pos_label=pos),
    }


@pytest.mark.parametrize("labels", [(0, 1), ("stay", "churn")], ids=["int", "str"])
def test_binary_equals_sklearn(
    labels: tuple[object, object], as_input: Callable[[np.ndarray], object]
) -> None:
    y, p, s = _binary(labels)
    positive = None if labels == (0, 1) else "churn"
    result = compute_performance(
        "binary_classification", as_input(y), as_input(p), y_score=as_input(s),
        positive_label=positive,
    )  # fmt: skip
    assert result.metrics == _sklearn_binary(y, p, s, *labels)
    assert (result.rows, result.labelled_rows, result.note) == (N, N, "")


def test_binary_tied_scores_equal_sklearn() -> None:
    y, p, s = _binary((0, 1))
    tied = np.round(s, 1)
    result = compute_performance("binary_classification", y, p, y_score=tied)
    assert result.metrics == _sklearn_binary(y, p, tied, 0, 1)


def test_binary_positive_label_from_yaml_text_matches_numeric_labels() -> None:
    y, p, s = _binary((0, 1))
    as_text = compute_performance("binary_classification", y, p, y_score=s, positive_label="1")
    assert as_text.metrics == _sklearn_binary(y, p, s, 0, 1)
    # positive_label 0 flips the classes: recall of class 0 in sklearn's terms.
    flipped = compute_performance("binary_classification", y, p, y_score=1 - s, positive_label=0)
    assert flipped.metrics["recall"] == skm.recall_score(y, p, pos_label=0)
    assert flipped.metrics["roc_auc"] == skm.roc_auc_score(y == 0, 1 - s)


def test_binary_prediction_from_score_threshold() -> None:
    y, _, s = _binary((0, 1))
    result = compute_performance("binary_classification", y, None, y_score=s, threshold=0.7)
    expected_pred = (s >= 0.7).astype(int)
    assert result.metrics["f1"] == skm.f1_score(y, expected_pred)
    assert result.metrics["positive_rate"] == float(np.mean(expected_pred))


def test_unlabelled_rows_are_dropped_and_counted(as_input: Callable[[np.ndarray], object]) -> None:
    y, p, s = _binary((0, 1))
    target = y.astype(float)
    target[::4] = np.nan
    kept = ~np.isnan(target)
    result = compute_performance(
        "binary_classification", as_input(target), as_input(p), y_score=as_input(s)
    )
    assert (result.rows, result.labelled_rows) == (N, int(kept.sum()))
    assert f"{N - int(kept.sum())} rows without a label" in result.note
    assert result.metrics == _sklearn_binary(target[kept], p[kept], s[kept], 0.0, 1.0)


def test_multiclass_equals_sklearn(as_input: Callable[[np.ndarray], object]) -> None:
    rng = np.random.default_rng(3)
    classes = np.array(["cat", "dog", "eel/x"], dtype=object)
    y = classes[rng.integers(0, 3, N)]
    proba = rng.dirichlet([1, 1, 1], N)
    proba[np.arange(N), rng.integers(0, 3, N)] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    p = classes[np.argmax(proba, axis=1)]
    result = compute_performance(
        "multiclass_classification", as_input(y), as_input(p), probabilities=proba
    )
    recalls = skm.recall_score(y, p, labels=list(classes), average=None)
    expected = {
        "accuracy": skm.accuracy_score(y, p),
        "f1_macro": skm.f1_score(y, p, average="macro"),
        "f1_weighted": skm.f1_score(y, p, average="weighted"),
        "recall_class_cat": recalls[0],
        "recall_class_dog": recalls[1],
        "recall_class_eel_x": recalls[2],
        "log_loss": skm.log_loss(y, proba, labels=list(classes)),
    }
    assert result.metrics == expected
    from_proba = compute_performance("multiclass_classification", y, None, probabilities=proba)
    assert from_proba.metrics == expected


def test_multiclass_probability_columns_must_match_classes() -> None:
    y = np.array(["a", "b", "c", "a"])
    with pytest.raises(DataError, match="2 probability columns but 3 labels"):
        compute_performance("multiclass_classification", y, y, probabilities=np.full((4, 2), 0.5))


def test_regression_equals_sklearn(as_input: Callable[[np.ndarray], object]) -> None:
    rng = np.random.default_rng(11)
    y = rng.gamma(2.0, 10.0, N) + 1.0
    p = y + rng.normal(0, 3, N)
    result = compute_performance("regression", as_input(y), as_input(p))
    assert result.metrics == {
        "mae": skm.mean_absolute_error(y, p),
        "rmse": skm.root_mean_squared_error(y, p),
        "mape": skm.mean_absolute_percentage_error(y, p),
        "r2": skm.r2_score(y, p),
    }


def test_regression_zero_target_leaves_mape_out_with_reason() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    p = np.array([0.5, 1.0, 2.5, 2.0])
    result = compute_performance("regression", y, p)
    assert "mape" not in result.metrics
    assert "mape undefined: 1 zero values" in result.note
    assert result.metrics["rmse"] == skm.root_mean_squared_error(y, p)


@pytest.mark.parametrize("task", ["binary_classification", "regression"])
def test_empty_input_gives_empty_metrics_with_note(task: str) -> None:
    result = compute_performance(task, [], [])  # type: ignore[arg-type]
    assert (result.rows, result.labelled_rows, result.metrics, result.note) == (0, 0, {}, "no rows")


def test_all_missing_target_is_a_label_free_window() -> None:
    result = compute_performance(
        "binary_classification", [None, None, None], [0, 1, 1], y_score=[0.1, 0.8, 0.9]
    )
    assert result.metrics == {}
    assert result.labelled_rows == 0 and result.rows == 3
    assert "no labelled rows" in result.note


@pytest.mark.parametrize("only", [0, 1])
def test_single_class_target_leaves_auc_out_with_reason(only: int) -> None:
    y = np.full(10, only)
    p = np.array([0, 1] * 5)
    s = np.linspace(0.05, 0.95, 10)
    result = compute_performance("binary_classification", y, p, y_score=s)
    assert "roc_auc" not in result.metrics and "pr_auc" not in result.metrics
    assert "roc_auc, pr_auc undefined: every label is" in result.note
    assert result.metrics["log_loss"] == skm.log_loss(y, s, labels=[0, 1])
    assert result.metrics["accuracy"] == 0.5
    assert all(np.isfinite(v) for v in result.metrics.values())


def test_no_predicted_positive_leaves_precision_out() -> None:
    result = compute_performance("binary_classification", [0, 1, 1], [0, 0, 0])
    assert "precision" not in result.metrics
    assert "precision undefined" in result.note
    assert result.metrics["recall"] == 0.0


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ([0.2, np.inf, 0.5], "proba: score column holds 1 infinite values"),
        ([0.2, 1.5, -0.1], "proba: 2 values outside \\[0, 1\\]"),
        ([0.2, "high", 0.5], "proba: score column holds 1 non-numeric values"),
    ],
)
def test_bad_score_names_the_column(score: list[object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        compute_performance(
            "binary_classification", [0, 1, 1], [0, 1, 1], y_score=pd.Series(score, name="proba")
        )


def test_strings_in_numeric_target_name_the_column() -> None:
    with pytest.raises(DataError, match="price: target column holds 1 non-numeric values"):
        compute_performance("regression", ["1.5", "abc", "2"], [1.0, 2.0, 3.0], target_name="price")


def test_binary_labels_need_positive_label_and_at_most_two_values() -> None:
    with pytest.raises(DataError, match="label: set positive_label"):
        compute_performance("binary_classification", ["a", "b"], ["a", "a"], target_name="label")
    with pytest.raises(DataError, match="binary task but 3 labels"):
        compute_performance("binary_classification", [0, 1, 2], [0, 1, 1])


def test_length_mismatch_is_a_data_error() -> None:
    with pytest.raises(DataError, match="pred: 2 values for 3 rows"):
        compute_performance("regression", [1.0, 2.0, 3.0], [1.0, 2.0], prediction_name="pred")


def test_only_restricts_to_the_named_metrics() -> None:
    y, p, s = _binary((0, 1))
    result = compute_performance("binary_classification", y, p, y_score=s, only=["roc_auc"])
    assert result.metrics == {"roc_auc": skm.roc_auc_score(y, s)}
    labels = np.array(["a", "b", "c", "a", "b"])
    pred = np.array(["a", "c", "c", "a", "b"])
    multi = compute_performance("multiclass_classification", labels, pred, only=["recall_class_b"])
    assert multi.metrics == {"recall_class_b": 0.5}


def test_result_round_trips_through_json() -> None:
    y, p, s = _binary((0, 1))
    result = compute_performance("binary_classification", y, p, y_score=s)
    again = PerformanceResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    with pytest.raises(DataError, match=r"performance\.rows"):
        PerformanceResult.from_dict({**result.to_dict(), "rows": "many"})


@pytest.mark.parametrize(
    ("task", "kwargs"),
    [
        ("binary_classification", {"y_score": [0.2, 0.8, 0.6, 0.1]}),
        ("multiclass_classification", {}),
        ("regression", {}),
    ],
)
def test_default_checks_name_metrics_the_task_computes(
    task: str, kwargs: dict[str, object]
) -> None:
    y = [0, 1, 1, 0] if task != "regression" else [1.0, 2.0, 3.0, 4.0]
    p = [0, 1, 0, 0] if task != "regression" else [1.5, 2.0, 2.5, 4.0]
    if task == "multiclass_classification":
        y, p = [0, 1, 2, 2], [0, 1, 1, 2]
    result = compute_performance(task, y, p, **kwargs)  # type: ignore[arg-type]
    checks = default_checks(task)  # type: ignore[arg-type]
    assert checks and all(c.metric in result.metrics for c in checks)


def test_a_binary_spec_without_a_score_gets_a_critical_check_it_can_judge() -> None:
    """No score column: ROC AUC would be not_evaluated in every window (each window partial)."""
    result = compute_performance("binary_classification", [0, 1, 1, 0], [0, 1, 0, 0])
    checks = default_checks("binary_classification", has_score=False)
    assert "roc_auc" not in [c.metric for c in checks]
    assert [c.metric for c in checks if c.severity == "critical"] == ["accuracy"]
    assert all(c.metric in result.metrics for c in checks)


def test_direction_and_safe_class_names() -> None:
    assert not higher_is_better("rmse") and not higher_is_better("log_loss")
    assert higher_is_better("roc_auc")
    assert class_metric_name("recall", "a b/c") == "recall_class_a_b_c"


# -- what intervals need: standard errors, denominators, class counts -----------------------------


def test_binary_standard_errors_denominators_and_class_counts() -> None:
    y, p, s = _binary((0, 1))
    result = compute_performance("binary_classification", y, p, y_score=s)
    tp, fp, fn = (int(result.metrics[k]) for k in ("tp", "fp", "fn"))
    assert result.counts == {"positives": int(y.sum()), "negatives": int(N - y.sum())}
    assert result.denominators["recall"] == tp + fn
    assert result.denominators["precision"] == tp + fp
    assert result.denominators["accuracy"] == N
    centre = (tp + 2) / (tp + fn + 4)  # Wilson-centred: two successes and two failures added
    assert result.standard_errors["recall"] == pytest.approx(
        np.sqrt(centre * (1 - centre) / (tp + fn + 4))
    )
    assert result.standard_errors["roc_auc"] == pytest.approx(delong_auc(s, y == 1)[1], rel=1e-12)
    assert "pr_auc" not in result.standard_errors  # no standard error: no interval


def test_only_keeps_the_named_metrics_errors_and_always_the_class_counts() -> None:
    y, p, s = _binary((0, 1))
    result = compute_performance("binary_classification", y, p, y_score=s, only=["roc_auc"])
    assert set(result.standard_errors) == set(result.denominators) == {"roc_auc"}
    assert result.counts["positives"] + result.counts["negatives"] == N


def _spread_of(values: list[float], errors: list[float]) -> tuple[float, float]:
    return float(np.std(values, ddof=1)), float(np.mean(errors))


@pytest.mark.parametrize("metric", ["rmse", "mae"])
def test_regression_standard_errors_match_the_spread_over_repeated_samples(metric: str) -> None:
    rng = np.random.default_rng(21)
    values, errors = [], []
    for _ in range(400):
        truth = rng.normal(10, 2, 300)
        result = compute_performance("regression", truth, truth + rng.standard_t(5, 300))
        values.append(result.metrics[metric])
        errors.append(result.standard_errors[metric])
    observed, predicted = _spread_of(values, errors)
    assert predicted == pytest.approx(observed, rel=0.15)


@pytest.mark.parametrize("metric", ["f1", "roc_auc"])
def test_binary_standard_errors_match_the_spread_over_repeated_samples(metric: str) -> None:
    rng = np.random.default_rng(22)
    values, errors = [], []
    for _ in range(400):
        truth = (rng.random(250) < 0.3).astype(int)
        score = np.clip(0.3 * truth + 0.7 * rng.random(250), 0, 1)
        result = compute_performance("binary_classification", truth, None, y_score=score)
        values.append(result.metrics[metric])
        errors.append(result.standard_errors[metric])
    observed, predicted = _spread_of(values, errors)
    assert predicted == pytest.approx(observed, rel=0.15)


def test_multiclass_counts_and_macro_f1_standard_error() -> None:
    rng = np.random.default_rng(23)
    values, errors = [], []
    for _ in range(300):
        truth = rng.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2])
        pred = np.where(rng.random(400) < 0.75, truth, rng.choice(["a", "b", "c"], 400))
        result = compute_performance("multiclass_classification", truth, pred)
        values.append(result.metrics["f1_macro"])
        errors.append(result.standard_errors["f1_macro"])
    assert set(result.counts) == {"class=a", "class=b", "class=c"}
    assert sum(result.counts.values()) == 400
    assert result.denominators["recall_class_c"] == result.counts["class=c"]
    observed, predicted = _spread_of(values, errors)
    assert predicted == pytest.approx(observed, rel=0.25)


def test_results_written_before_standard_errors_still_read() -> None:
    y, p, s = _binary((0, 1))
    body = compute_performance("binary_classification", y, p, y_score=s).to_dict()
    for key in ("standard_errors", "denominators", "counts"):
        body.pop(key)
    old = PerformanceResult.from_dict(body)
    assert old.standard_errors == {} and old.denominators == {} and old.counts == {}
    assert old.metrics["roc_auc"] == skm.roc_auc_score(y, s)

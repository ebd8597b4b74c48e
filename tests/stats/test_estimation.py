"""CBPE and DLE (``stats.estimation``): parity with NannyML 0.13, accuracy, interval coverage.

Parity: ``benchmarks/nannyml/expected_cbpe.json`` holds NannyML 0.13.1's per-chunk estimates,
made in NannyML's own environment by ``benchmarks/nannyml/nannyml_cbpe.py`` on data our seeded
code regenerates (``shift``, ``calibrated``) or that is committed beside it; every metric of
every chunk must be within ``PARITY`` of NannyML's (NannyML itself is not needed here).
Accuracy and coverage use the seeded covariate-shift task of ``benchmarks/nannyml/
parity_data.py``, whose true probabilities are known.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scistats
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression
from threadpoolctl import threadpool_limits

from benchmarks.nannyml.parity_data import checksum, load, shift_frame
from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.estimation import (
    Calibrator,
    Checks,
    GroupCalibration,
    GroupEstimate,
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
from mlflow_monitor.stats.estimation.calibration import (
    _bin_starts,
    cross_validate,
    expected_calibration_error,
)

EXPECTED = Path(__file__).parents[2] / "benchmarks" / "nannyml" / "expected_cbpe.json"
PARITY = 0.01
BINARY = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


@pytest.fixture(scope="module")
def expected() -> dict[str, dict]:
    data: dict[str, dict] = json.loads(EXPECTED.read_text())["datasets"]
    return data


@pytest.fixture(scope="module")
def shift_reference() -> pd.DataFrame:
    return shift_frame(50_000, 0.0, seed=1)


# -- calibrator -----------------------------------------------------------------------------


def test_calibrator_applies_sklearns_isotonic_map_and_round_trips_as_json() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000)
    score = _sigmoid(2.5 * x)
    truth = (rng.random(4000) < _sigmoid(1.2 * x - 0.5)).astype(int)
    calibrator = fit_calibrator(scores=score, truth=truth)
    assert calibrator.applied and calibrator.ece_after < calibrator.ece_before
    sklearn = IsotonicRegression(out_of_bounds="clip").fit(score, truth)
    probe = np.concatenate([np.linspace(0, 1, 1001), score])
    np.testing.assert_allclose(calibrator.apply(probe), sklearn.predict(probe), atol=1e-12)
    text = json.dumps(calibrator.to_dict(), allow_nan=False)
    again = Calibrator.from_dict(json.loads(text))
    assert again == calibrator
    np.testing.assert_array_equal(again.apply(probe), calibrator.apply(probe))
    assert len(text) < 60_000  # small enough for the baseline JSON


def test_calibrator_keeps_calibrated_scores_and_refuses_bad_input() -> None:
    rng = np.random.default_rng(4)
    reference = load("calibrated").query("period == 'reference'")  # scores = true probabilities
    calibrator = fit_calibrator(scores=reference["score"], truth=reference["target"])
    assert not calibrator.applied and "did not lower" in calibrator.note
    p = rng.uniform(0.05, 0.95, 20_000)
    np.testing.assert_array_equal(calibrator.apply(p), p)
    identity = fit_calibrator(scores=p, truth=rng.random(20_000) < p, method="identity")
    assert not identity.applied and identity.method == "identity"
    forced = fit_calibrator(scores=p, truth=rng.random(20_000) < p, check=False)
    assert forced.applied
    with pytest.raises(DataError, match="outside"):
        fit_calibrator(scores=p * 2, truth=np.ones(20_000))
    with pytest.raises(DataError, match="0/1"):
        fit_calibrator(scores=p, truth=np.full(20_000, 2))
    with pytest.raises(DataError, match="missing"):
        calibrator.apply(np.array([0.2, np.nan]))
    with pytest.raises(DataError, match="method"):
        Calibrator.from_dict({**calibrator.to_dict(), "method": "platt"})


def test_expected_calibration_error_is_nannymls_binning() -> None:
    # 20 rows, 10 bins of 2 sorted rows: |mean p - mean y| per bin, weighted 1/10.
    p = np.arange(20) / 20
    y = np.tile([0.0, 1.0], 10)
    gaps = [abs(p[i : i + 2].mean() - 0.5) for i in range(0, 20, 2)]
    assert expected_calibration_error(y, p) == pytest.approx(np.mean(gaps))


# -- parity with NannyML --------------------------------------------------------------------


def _tie_decided(name: str, column: str, dataset: dict) -> bool:
    """True when ordering rows of equal probability one way or the other flips NannyML's
    calibrate-or-not decision (its default sort orders ties differently on different CPUs)."""
    frame = load(name)
    reference = frame[frame["period"] == "reference"]
    if dataset["problem"] == "binary":
        scores, positive = reference["score"], reference["target"] == 1
    else:
        scores, positive = reference[f"proba_{column}"], reference["target"] == column
    cv = cross_validate(scores.to_numpy(float), positive.to_numpy(int))
    decisions = set()
    for tie_order in (1, -1):
        before = _ece_with_ties(cv.truth, cv.raw, tie_order)
        after = _ece_with_ties(cv.truth, cv.calibrated, tie_order)
        decisions.add(before > after)
    return len(decisions) == 2


def _ece_with_ties(truth: np.ndarray, probability: np.ndarray, tie_order: int) -> float:
    """``expected_calibration_error`` with ties in row order (1) or reversed (-1)."""
    order = np.lexsort((tie_order * np.arange(len(probability)), probability))
    starts = _bin_starts(len(probability), 10)
    gaps = np.add.reduceat(probability[order], starts) - np.add.reduceat(truth[order], starts)
    return float(np.abs(gaps).sum() / len(probability))


def _ours(name: str, dataset: dict) -> tuple[dict[str, bool], list[dict[str, float]]]:
    frame = load(name)
    assert checksum(frame) == dataset["checksum"], f"{name}: not the data NannyML saw"
    reference = frame[frame["period"] == "reference"].reset_index(drop=True)
    analysis = frame[frame["period"] == "analysis"].reset_index(drop=True)
    out = []
    if dataset["problem"] == "binary":
        calibrator = fit_calibrator(scores=reference["score"], truth=reference["target"])
        calibrated = {"score": calibrator.applied}
        for chunk in dataset["chunks"]:
            part = analysis.iloc[chunk["start"] : chunk["end"] + 1]
            estimate = estimate_binary(
                scores=part["score"],
                decisions=binary_decisions(predictions=part["prediction"], positive_label=1),
                calibrator=calibrator,
            )
            out.append({m: e.value for m, e in estimate.metrics.items()})
        return calibrated, out
    classes = dataset["classes"]
    columns = [f"proba_{c}" for c in classes]
    calibrators = fit_multiclass_calibrators(
        probabilities=reference[columns], truth=reference["target"], classes=classes
    )
    for chunk in dataset["chunks"]:
        part = analysis.iloc[chunk["start"] : chunk["end"] + 1]
        estimate = estimate_multiclass(
            probabilities=part[columns], classes=classes, predictions=part["prediction"],
            calibrators=calibrators,
        )  # fmt: skip
        out.append({m: e.value for m, e in estimate.metrics.items()})
    return {c: calibrators[c].applied for c in classes}, out


PARITY_SETS = ("shift", "calibrated", "churn", "car_loan", "wfh", "census_ma", "multiclass")


@pytest.mark.parametrize("name", PARITY_SETS)
def test_cbpe_matches_nannyml_per_chunk(name: str, expected: dict[str, dict]) -> None:
    dataset = expected[name]
    calibrated, ours = _ours(name, dataset)
    for column, decision in dataset["calibrated"].items():  # the same calibration decision,
        if calibrated[column] != decision:  # unless the order of tied probabilities decides it
            assert _tie_decided(name, column, dataset), (column, calibrated[column], decision)
    assert len(ours) == len(dataset["chunks"]) >= 3
    worst = {m: 0.0 for m in BINARY}
    for mine, chunk in zip(ours, dataset["chunks"], strict=True):
        for metric in BINARY:
            worst[metric] = max(worst[metric], abs(mine[metric] - chunk["value"][metric]))
    assert max(worst.values()) <= PARITY, worst


# -- accuracy and coverage on known truth ---------------------------------------------------


def test_estimates_track_realized_metrics_under_covariate_shift(
    shift_reference: pd.DataFrame,
) -> None:
    calibrator = fit_calibrator(scores=shift_reference["score"], truth=shift_reference["target"])
    errors: dict[str, list[float]] = {"roc_auc": [], "f1": []}
    for i in range(50):
        window = shift_frame(10_000, 1.5 * i / 49, seed=100 + i)
        decisions = window["prediction"].to_numpy() == 1
        estimate = estimate_binary(
            scores=window["score"], decisions=decisions, calibrator=calibrator
        )
        assert estimate.trustworthy, estimate.notes
        truth = window["target"].to_numpy()
        realized = {
            "roc_auc": skm.roc_auc_score(truth, window["score"]),
            "f1": skm.f1_score(truth, decisions),
        }
        for metric, value in realized.items():
            errors[metric].append(abs(estimate.metrics[metric].value - value))
    medians = {m: float(np.median(e)) for m, e in errors.items()}
    assert medians["roc_auc"] <= 0.02 and medians["f1"] <= 0.02, medians


def test_group_estimates_use_group_calibration_and_flag_unreliable_groups(
    shift_reference: pd.DataFrame,
) -> None:
    calibration = fit_group_calibration(
        scores=shift_reference["score"], truth=shift_reference["target"],
        groups=shift_reference["group"],
    )  # fmt: skip
    references = calibration.groups
    assert [references[g].source for g in "ABCD"] == ["group"] * 3 + ["overall"]
    assert all(references[g].reliable for g in "ABC")
    assert not references["D"].reliable and "calibration error" in references["D"].note
    # the overall calibrator is off within B and C (the score ignores their offsets)
    assert references["B"].ece_overall is not None and references["B"].ece_overall > 0.05
    again = GroupCalibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again == calibration
    errors: dict[str, list[float]] = {g: [] for g in "ABCD"}
    for i in range(20):
        window = shift_frame(10_000, 1.5 * i / 19, seed=100 + i)
        decisions = window["prediction"].to_numpy() == 1
        estimates = estimate_groups(
            scores=window["score"], decisions=decisions, groups=window["group"],
            calibration=calibration,
        )  # fmt: skip
        for group, estimate in estimates.items():
            rows = (window["group"] == group).to_numpy()
            truth = window["target"].to_numpy()[rows]
            realized_fnr = float(np.mean(~decisions[rows][truth == 1]))
            errors[group].append(abs(estimate.metrics["fnr"].value - realized_fnr))
            assert estimate.reliable == (group != "D")
            assert set(estimate.metrics) == {"tpr", "fpr", "fnr", "precision", "selection_rate"}
    medians = {g: float(np.median(e)) for g, e in errors.items()}
    assert max(medians[g] for g in "ABC") <= 0.02, medians


def test_unknown_and_missing_groups_are_estimated_but_unreliable(
    shift_reference: pd.DataFrame,
) -> None:
    calibration = fit_group_calibration(
        scores=shift_reference["score"], truth=shift_reference["target"],
        groups=shift_reference["group"], min_calibration_rows=10**9,
    )  # fmt: skip
    window = shift_frame(2_000, 0.5, seed=9)
    groups = window["group"].astype(object).to_numpy()
    groups[:50], groups[50:100] = "Z", None
    estimates = estimate_groups(
        scores=window["score"], decisions=window["prediction"] == 1, groups=groups,
        calibration=calibration,
    )  # fmt: skip
    assert not estimates["Z"].reliable and "not in the reference" in estimates["Z"].notes[0]
    assert estimates["(missing)"].rows == 50
    assert estimates["A"].calibration == "overall"
    stored = json.loads(json.dumps(estimates["A"].to_dict(), allow_nan=False))
    assert GroupEstimate.from_dict(stored) == estimates["A"]


def _realized_binary(draws: np.ndarray, d: np.ndarray, ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Realized metrics of each row of ``draws`` (labels), vectorized over draws."""
    tp = draws[:, d].sum(axis=1)
    fn = draws[:, ~d].sum(axis=1)
    k, n = d.sum(), d.size
    fp, tn = k - tp, (n - k) - fn
    positives = tp + fn
    negatives = n - positives
    return {
        "accuracy": (tp + tn) / n,
        "precision": tp / k,
        "recall": tp / positives,
        "f1": 2 * tp / (2 * tp + fp + fn),
        "specificity": tn / negatives,
        "roc_auc": (draws @ ranks - positives * (positives + 1) / 2) / (positives * negatives),
    }


def test_binary_intervals_cover_the_realized_metric_at_their_level() -> None:
    rng = np.random.default_rng(11)
    n, draws = 5_000, 400
    p = _sigmoid(rng.normal(-0.5, 1.6, n))  # calibration holds: labels drawn from p
    d = p >= 0.4
    calibrator = fit_calibrator(scores=p, truth=rng.random(n) < p, method="identity")
    estimate = estimate_binary(scores=p, decisions=d, calibrator=calibrator, level=0.95)
    labels = (rng.random((draws, n)) < p).astype(float)
    realized = _realized_binary(labels, d, scistats.rankdata(p))
    for metric in BINARY:
        found = estimate.metrics[metric]
        covered = np.mean((realized[metric] >= found.low) & (realized[metric] <= found.high))
        assert 0.90 <= covered <= 0.99, (metric, covered)
        # the standard error is the spread of the realized metric
        assert found.standard_error == pytest.approx(np.std(realized[metric]), rel=0.15)


def _multiclass_data(rows: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, (rows, 2))
    logits = np.column_stack([1.5 * x[:, 0], 1.5 * x[:, 1], 0.5 - x.sum(axis=1)])
    truth_p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    sharp = np.round(np.exp(1.8 * logits) / np.exp(1.8 * logits).sum(axis=1, keepdims=True), 3)
    truth = (rng.random(rows)[:, None] > np.cumsum(truth_p, axis=1)).sum(axis=1)
    return truth_p, sharp / sharp.sum(axis=1, keepdims=True), truth


def test_multiclass_estimates_track_realized_and_cover() -> None:
    classes = ["a", "b", "c"]
    _, scores, truth = _multiclass_data(30_000, seed=5)
    calibrators = fit_multiclass_calibrators(
        probabilities=scores, truth=np.array(classes)[truth], classes=classes
    )
    assert all(c.applied for c in calibrators.values())
    truth_p, scores, truth = _multiclass_data(8_000, seed=6, shift=0.4)
    predicted = np.array(classes)[scores.argmax(axis=1)]
    estimate = estimate_multiclass(
        probabilities=pd.DataFrame(scores, columns=classes), classes=classes,
        predictions=predicted, calibrators=calibrators,
    )  # fmt: skip
    labels = np.array(classes)[truth]
    realized = {
        "accuracy": skm.accuracy_score(labels, predicted),
        "f1": skm.f1_score(labels, predicted, average="macro"),
        "precision": skm.precision_score(labels, predicted, average="macro"),
        "recall": skm.recall_score(labels, predicted, average="macro"),
        "roc_auc": skm.roc_auc_score(labels, scores, multi_class="ovr", labels=classes),
    }
    for metric, value in realized.items():
        assert abs(estimate.metrics[metric].value - value) <= 0.02, metric
    # coverage with the true probabilities (calibration holds exactly)
    identity = {c: fit_calibrator(scores=truth_p[:, j], truth=truth == j, method="identity")
                for j, c in enumerate(classes)}  # fmt: skip
    exact = estimate_multiclass(
        probabilities=truth_p, classes=classes, predictions=predicted, calibrators=identity
    )
    rng = np.random.default_rng(7)
    hits = {m: 0 for m in ("accuracy", "f1", "recall", "precision")}
    codes = scores.argmax(axis=1)
    for _ in range(300):
        drawn = (rng.random(len(truth_p))[:, None] > np.cumsum(truth_p, axis=1)).sum(axis=1)
        matrix = np.bincount(3 * drawn + codes, minlength=9).reshape(3, 3).astype(float)
        tp = np.diag(matrix)
        values = {
            "accuracy": tp.sum() / matrix.sum(),
            "f1": np.mean(2 * tp / (matrix.sum(axis=0) + matrix.sum(axis=1))),
            "recall": np.mean(tp / matrix.sum(axis=1)),
            "precision": np.mean(tp / matrix.sum(axis=0)),
        }
        for metric, value in values.items():
            found = exact.metrics[metric]
            hits[metric] += found.low <= value <= found.high
    assert all(0.90 <= h / 300 <= 0.99 for h in hits.values()), hits
    assert sum(estimate.expected_confusion.values()) == pytest.approx(len(scores))


# -- windows, decisions, storage ------------------------------------------------------------


def test_estimate_round_trips_and_says_why_it_is_not_trustworthy(
    shift_reference: pd.DataFrame,
) -> None:
    calibrator = fit_calibrator(scores=shift_reference["score"], truth=shift_reference["target"])
    window = shift_frame(5_000, 0.3, seed=8)
    estimate = estimate_binary(
        scores=window["score"], decisions=window["prediction"] == 1, calibrator=calibrator
    )
    text = json.dumps(estimate.to_dict(), allow_nan=False)
    assert PerformanceEstimate.from_dict(json.loads(text)) == estimate
    confusion = estimate.expected_confusion
    assert sum(confusion.values()) == pytest.approx(5_000)
    assert confusion["tp"] + confusion["fp"] == (window["prediction"] == 1).sum()
    # scores where the reference had none: few covered bins
    strict = Checks(min_bin_rows=3_000)
    flagged = estimate_binary(
        scores=window["score"], decisions=window["prediction"] == 1, calibrator=calibrator,
        checks=strict,
    )  # fmt: skip
    assert not flagged.trustworthy and "reference has at least 3000 rows" in flagged.notes[0]
    none = estimate_binary(
        scores=window["score"], decisions=np.zeros(5_000, dtype=bool), calibrator=calibrator
    )
    assert "precision" not in none.metrics and "precision undefined" in none.notes[0]
    empty = estimate_binary(scores=[], decisions=[], calibrator=calibrator)
    assert empty.rows == 0 and not empty.trustworthy


def test_decision_rule_is_prediction_else_threshold() -> None:
    decided = binary_decisions(predictions=["yes", "no", "yes"], positive_label="yes")
    assert decided.tolist() == [True, False, True]
    assert binary_decisions(scores=[0.2, 0.7, 0.5], threshold=0.5).tolist() == [False, True, True]
    with pytest.raises(DataError):
        binary_decisions()


# -- regression (DLE) -----------------------------------------------------------------------


def _regression(rows: int, shift: float, seed: int) -> tuple[pd.DataFrame, np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, rows)
    kind = rng.choice(["a", "b", "c"], rows)
    sigma = 0.5 + 0.8 * np.abs(x1) + 0.7 * (kind == "c")
    prediction = 2 * x1
    truth = prediction + rng.normal(0.0, sigma)
    return pd.DataFrame({"x1": x1, "kind": kind}), prediction, truth


def test_dle_estimates_mae_and_rmse_with_intervals() -> None:
    features, prediction, truth = _regression(5_000, 0.0, seed=1)
    # One OpenMP thread: on a busy 2-core machine the gradient boosting's two threads spin
    # (5,000 rows: 0.3 s a fit with one thread, 1.5-3 s with two under load 3.5).
    with threadpool_limits(1):
        _check_dle(features, prediction, truth)


def _check_dle(features: pd.DataFrame, prediction: np.ndarray, truth: np.ndarray) -> None:
    model = fit_loss_model(features=features, predictions=prediction, truth=truth)
    assert model.kappa == pytest.approx(2.0, rel=0.35)  # normal errors: Var(e^2) = 2 E[e^2]^2
    json.dumps(model.summary(), allow_nan=False)
    errors, hits = [], 0
    for i in range(12):
        features, prediction, truth = _regression(3_000, 0.8 * i / 11, seed=20 + i)
        estimate = estimate_regression(
            features=features, predictions=prediction, loss_model=model
        )
        mae = float(np.mean(np.abs(truth - prediction)))
        rmse = math.sqrt(float(np.mean((truth - prediction) ** 2)))
        errors.append(abs(estimate.metrics["mae"].value - mae) / mae)
        errors.append(abs(estimate.metrics["rmse"].value - rmse) / rmse)
        hits += estimate.metrics["mae"].low <= mae <= estimate.metrics["mae"].high
    assert float(np.median(errors)) <= 0.03, errors
    assert hits >= 8
    with pytest.raises(DataError, match="missing"):
        estimate_regression(
            features=features.drop(columns="kind"), predictions=prediction, loss_model=model
        )

"""Paired tests of a challenger against a champion on the same rows (stats/paired.py).

Against hand counts, scipy's exact binomial, a direct O(n_pos * n_neg) DeLong covariance,
sklearn's metric values, seeded paired bootstraps, and seeded simulations of the decision.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit
from sklearn import metrics as skm

from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import Task
from mlflow_monitor.stats.intervals import delong_auc, delong_placements
from mlflow_monitor.stats.paired import (
    SUPPORTED_METRICS,
    MarginDecision,
    PairedTest,
    margin_test,
    paired_correctness,
    paired_test,
)

BINARY: Task = "binary_classification"
MULTICLASS: Task = "multiclass_classification"
REGRESSION: Task = "regression"


# -- simulated models -------------------------------------------------------------------------


def binary_models(
    rng: np.random.Generator, n: int, signal_a: float, signal_b: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two models' scores; a shared row difficulty correlates their errors."""
    y = (rng.random(n) < 0.4).astype(int)
    sign = 2.0 * y - 1.0
    hard = rng.normal(size=n)
    score_a = expit(signal_a * sign + hard + rng.normal(size=n))
    score_b = expit(signal_b * sign + hard + rng.normal(size=n))
    return y, score_a, score_b


def regression_models(
    rng: np.random.Generator, n: int, noise_a: float, noise_b: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = rng.normal(10.0, 3.0, n)
    shared = rng.normal(0.0, 1.0, n)
    return y, y + shared + rng.normal(0.0, noise_a, n), y + shared + rng.normal(0.0, noise_b, n)


def multiclass_models(
    rng: np.random.Generator, n: int, right_a: float, right_b: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes = np.array(["cat", "dog", "owl", "yak"], dtype=object)
    y = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    easy = rng.random(n) < 0.5  # both models get the easy half right more often
    wrong = rng.integers(1, 4, (2, n))
    pa = np.where(rng.random(n) < np.where(easy, right_a + 0.15, right_a - 0.15), y, y + wrong[0])
    pb = np.where(rng.random(n) < np.where(easy, right_b + 0.15, right_b - 0.15), y, y + wrong[1])
    return classes[y], classes[pa % 4], classes[pb % 4]


def judged(metric: str, task: Task, y: object, a: object, b: object) -> PairedTest:
    result = paired_test(metric, truth=y, challenger=a, champion=b, task=task)  # type: ignore[arg-type]
    assert result is not None
    return result


# -- McNemar ----------------------------------------------------------------------------------

# truth, challenger, champion: b = rows 0, 1, 5, 7 (challenger right only), c = row 3.
TRUTH = [1, 0, 1, 1, 0, 1, 0, 0]
CHALLENGER = [1, 0, 1, 0, 0, 1, 1, 0]
CHAMPION = [0, 1, 1, 1, 0, 0, 1, 1]


def test_mcnemar_counts_discordant_rows_by_hand() -> None:
    result = judged("accuracy", BINARY, TRUTH, CHALLENGER, CHAMPION)
    assert result.method == "mcnemar"
    assert result.discordant == (4, 1)
    assert result.n == 8
    assert (result.challenger, result.champion) == (6 / 8, 3 / 8)
    assert result.improvement == pytest.approx(3 / 8)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(3 / math.sqrt(5)))
    assert result.exact_p_value == pytest.approx(0.375)  # 2 * P(X >= 4), X ~ Bin(5, 1/2)
    # The same rows as strings of a multiclass task, and as per-row correctness.
    names = np.array(["no", "yes"], dtype=object)
    labelled = judged("accuracy", MULTICLASS, names[TRUTH], names[CHALLENGER], names[CHAMPION])
    right = paired_correctness(
        np.equal(CHALLENGER, TRUTH), np.equal(CHAMPION, TRUTH), metric="accuracy"
    )
    assert labelled.discordant == right.discordant == (4, 1)  # type: ignore[union-attr]


def test_mcnemar_margin_zero_is_mcnemars_z_and_exact_p_is_scipys() -> None:
    rng = np.random.default_rng(3)
    y, sa, sb = binary_models(rng, 3_000, 1.1, 1.0)
    result = judged("accuracy", BINARY, y, (sa >= 0.5).astype(int), (sb >= 0.5).astype(int))
    b, c = result.discordant  # type: ignore[misc]
    assert b + c > 100 and b != c
    z = (b - c) / math.sqrt(b + c)
    assert margin_test(result, margin=0.0, level=0.95).p_value == pytest.approx(stats.norm.sf(z))
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert result.exact_p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)
    # Lu and Bean's margin form: z = (b - c - n margin) / sqrt(b + c - n margin^2).
    n, margin = result.n, -0.01
    lu_bean = (b - c - n * margin) / math.sqrt(b + c - n * margin**2)
    assert margin_test(result, margin=margin, level=0.9).p_value == pytest.approx(
        stats.norm.sf(lu_bean)
    )


def test_mcnemar_bound_p_and_decision_agree() -> None:
    rng = np.random.default_rng(4)
    y, sa, sb = binary_models(rng, 2_000, 1.05, 1.0)
    result = judged("accuracy", BINARY, y, (sa >= 0.5).astype(int), (sb >= 0.5).astype(int))
    decision = margin_test(result, margin=0.0, level=0.95)
    # The lower bound is the margin at which the one-sided p is exactly 1 - level.
    at_bound = margin_test(result, margin=decision.lower_bound, level=0.95)
    assert at_bound.p_value == pytest.approx(0.05, abs=1e-9)
    # It is close to the Wald bound improvement - z * se.
    wald = result.improvement - stats.norm.ppf(0.95) * result.standard_error
    assert decision.lower_bound == pytest.approx(wald, abs=0.1 * result.standard_error)
    for margin in np.linspace(-0.05, 0.05, 41):
        decided = margin_test(result, margin=float(margin), level=0.95)
        assert decided.beats == (decided.p_value < 0.05) == (decided.lower_bound > margin)


def test_mcnemar_without_discordant_rows() -> None:
    result = judged("accuracy", BINARY, TRUTH, CHALLENGER, CHALLENGER)
    assert result.discordant == (0, 0)
    assert (result.improvement, result.standard_error, result.p_value) == (0.0, 0.0, 1.0)
    assert not margin_test(result, margin=0.0, level=0.95).beats
    assert margin_test(result, margin=0.01, level=0.95).p_value == 1.0


# -- paired DeLong ----------------------------------------------------------------------------


def slow_delong(y: np.ndarray, scores: list[np.ndarray]) -> tuple[list[float], np.ndarray]:
    """DeLong 1988 straight from the Mann-Whitney kernel: AUCs and their covariance matrix."""
    positives, negatives = y == 1, y == 0
    v10, v01 = [], []
    for s in scores:
        x, z = s[positives][:, None], s[negatives][None, :]
        kernel = (x > z) + 0.5 * (x == z)
        v10.append(kernel.mean(axis=1))
        v01.append(kernel.mean(axis=0))
    covariance = np.cov(v10) / positives.sum() + np.cov(v01) / negatives.sum()
    return [float(v.mean()) for v in v10], covariance


def test_paired_delong_equals_the_direct_kernel_computation_with_ties() -> None:
    rng = np.random.default_rng(11)
    y, sa, sb = binary_models(rng, 300, 1.0, 0.8)
    sa, sb = np.round(sa, 1), np.round(sb, 2)  # many ties, within and across classes
    result = judged("roc_auc", BINARY, y, sa, sb)
    (auc_a, auc_b), cov = slow_delong(y, [sa, sb])
    assert result.method == "paired_delong"
    assert result.challenger == pytest.approx(auc_a, abs=1e-10)
    assert result.champion == pytest.approx(auc_b, abs=1e-10)
    assert result.challenger == pytest.approx(skm.roc_auc_score(y, sa), abs=1e-12)
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert result.standard_error**2 == pytest.approx(variance, abs=1e-10)
    assert result.improvement == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert cov[0, 1] > 0.3 * math.sqrt(cov[0, 0] * cov[1, 1])  # the pairing matters here


def test_delong_placements_reproduce_delong_auc() -> None:
    rng = np.random.default_rng(12)
    y, score, _ = binary_models(rng, 500, 1.0, 1.0)
    score = np.round(score, 2)
    auc, v10, v01 = delong_placements(score, y == 1)
    se = math.sqrt(np.var(v10, ddof=1) / v10.size + np.var(v01, ddof=1) / v01.size)
    assert (auc, se) == pytest.approx(delong_auc(score, y == 1), abs=1e-12)


def bootstrap(rng: np.random.Generator, n: int, draws: int, statistic: object) -> float:
    """Standard deviation of a paired statistic over resampled row indices."""
    values = [statistic(rng.integers(0, n, n)) for _ in range(draws)]  # type: ignore[operator]
    return float(np.std(values, ddof=1))


def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    ranks = stats.rankdata(score)
    m = int(y.sum())
    return float((ranks[y == 1].sum() - m * (m + 1) / 2) / (m * (y.size - m)))


def test_paired_delong_standard_error_matches_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(21)
    y, sa, sb = binary_models(rng, 2_000, 1.0, 0.9)
    result = judged("roc_auc", BINARY, y, sa, sb)
    boot = bootstrap(
        np.random.default_rng(22), y.size, 2_000,
        lambda i: rank_auc(y[i], sa[i]) - rank_auc(y[i], sb[i]),
    )  # fmt: skip
    assert result.standard_error == pytest.approx(boot, rel=0.15)


# -- the delta method and mean losses ---------------------------------------------------------


def weighted_bootstrap(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    """Resample counts per row (draws x n): statistics become weighted sums."""
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(draws)])


def ratio(metric: str, w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    tp, pred, actual = w @ (y * p), w @ p, w @ y
    value = {"precision": tp / pred, "recall": tp / actual, "f1": 2 * tp / (actual + pred)}[metric]
    return np.asarray(value)


@pytest.mark.parametrize("metric", ["precision", "recall", "f1"])
def test_delta_method_ratios_match_a_paired_bootstrap(metric: str) -> None:
    rng = np.random.default_rng(31)
    y, sa, sb = binary_models(rng, 2_000, 1.0, 0.9)
    pa, pb = (sa >= 0.5).astype(int), (sb >= 0.5).astype(int)
    result = judged(metric, BINARY, y, pa, pb)
    scorer = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
    assert result.method == "paired_delta"
    assert result.challenger == pytest.approx(scorer[metric](y, pa), abs=1e-12)
    assert result.champion == pytest.approx(scorer[metric](y, pb), abs=1e-12)
    w = weighted_bootstrap(np.random.default_rng(32), y.size, 2_000)
    boot = np.std(ratio(metric, w, y, pa) - ratio(metric, w, y, pb), ddof=1)
    assert result.standard_error == pytest.approx(boot, rel=0.15)


def test_delta_method_rmse_and_mae_match_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(41)
    y, pa, pb = regression_models(rng, 2_000, 0.8, 1.0)
    rmse = judged("rmse", REGRESSION, y, pa, pb)
    mae = judged("mae", REGRESSION, y, pa, pb)
    assert (rmse.method, mae.method) == ("paired_delta", "paired_mean")
    assert rmse.challenger == pytest.approx(skm.root_mean_squared_error(y, pa), abs=1e-12)
    assert mae.champion == pytest.approx(skm.mean_absolute_error(y, pb), abs=1e-12)
    assert rmse.improvement == pytest.approx(rmse.champion - rmse.challenger)  # lower is better
    assert rmse.improvement > 0
    w = weighted_bootstrap(np.random.default_rng(42), y.size, 2_000) / y.size
    ea, eb = (y - pa) ** 2, (y - pb) ** 2
    assert rmse.standard_error == pytest.approx(
        np.std(np.sqrt(w @ eb) - np.sqrt(w @ ea), ddof=1), rel=0.15
    )
    ea, eb = np.abs(y - pa), np.abs(y - pb)
    assert mae.standard_error == pytest.approx(np.std(w @ eb - w @ ea, ddof=1), rel=0.15)


def macro_f1(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Macro F1 of each weighted resample (every class present in the rows counts)."""
    f1s = []
    for k in np.unique(np.concatenate([y, p])):
        tp, actual, pred = w @ ((y == k) & (p == k)), w @ (y == k), w @ (p == k)
        f1s.append(2 * tp / (actual + pred))
    return np.asarray(np.mean(f1s, axis=0))


def test_delta_method_macro_f1_matches_sklearn_and_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(51)
    y, pa, pb = multiclass_models(rng, 2_000, 0.7, 0.65)
    result = judged("f1_macro", MULTICLASS, y, pa, pb)
    assert result.challenger == pytest.approx(skm.f1_score(y, pa, average="macro"), abs=1e-12)
    assert result.champion == pytest.approx(skm.f1_score(y, pb, average="macro"), abs=1e-12)
    w = weighted_bootstrap(np.random.default_rng(52), y.size, 2_000)
    boot = np.std(macro_f1(w, y, pa) - macro_f1(w, y, pb), ddof=1)
    assert result.standard_error == pytest.approx(boot, rel=0.15)
    # A class only the champion predicts counts in its own macro F1, as in sklearn's.
    pb[:3] = "emu"
    odd = judged("f1_macro", MULTICLASS, y, pa, pb)
    assert odd.champion == pytest.approx(skm.f1_score(y, pb, average="macro"), abs=1e-12)
    assert odd.challenger == result.challenger


def test_score_losses_are_paired_means_equal_to_sklearn() -> None:
    rng = np.random.default_rng(61)
    y, sa, sb = binary_models(rng, 1_000, 1.0, 0.9)
    labels = np.where(y == 1, "churn", "stay")
    loss = paired_test(
        "log_loss", truth=labels, challenger=sa, champion=sb, positive_label="churn", task=BINARY
    )
    brier = judged("brier", BINARY, y, sa, sb)
    assert loss is not None and loss.method == brier.method == "paired_mean"
    assert loss.challenger == pytest.approx(skm.log_loss(y, sa), abs=1e-12)
    assert brier.champion == pytest.approx(skm.brier_score_loss(y, sb), abs=1e-12)
    diff = (y - sb) ** 2 - (y - sa) ** 2
    assert brier.standard_error == pytest.approx(np.std(diff, ddof=1) / math.sqrt(y.size))
    assert brier.improvement == pytest.approx(brier.champion - brier.challenger)


def test_the_pairing_narrows_the_standard_error() -> None:
    """Correlated errors: the paired SE is well below sqrt(se1^2 + se2^2) of separate intervals."""
    rng = np.random.default_rng(71)
    y, pa, pb = regression_models(rng, 5_000, 0.3, 0.3)
    result = judged("mae", REGRESSION, y, pa, pb)
    separate = math.hypot(*(np.std(np.abs(y - p), ddof=1) / math.sqrt(y.size) for p in (pa, pb)))
    assert result.standard_error < 0.6 * separate


# -- the decision -----------------------------------------------------------------------------


CALIBRATED = [
    ("accuracy", BINARY, "label"),
    ("roc_auc", BINARY, "score"),
    ("f1", BINARY, "label"),
    ("rmse", REGRESSION, ""),
    ("f1_macro", MULTICLASS, ""),
]


def simulate(metric: str, task: Task, kind: str, seed: int, better: bool) -> bool:
    rng = np.random.default_rng(seed)
    n = 400
    if task == REGRESSION:
        y, a, b = regression_models(rng, n, 0.7 if better else 1.0, 1.0)
    elif task == MULTICLASS:
        y, a, b = multiclass_models(rng, n, 0.78 if better else 0.65, 0.65)
    else:
        y, a, b = binary_models(rng, n, 1.6 if better else 1.0, 1.0)
        if kind == "label":
            a, b = (a >= 0.5).astype(int), (b >= 0.5).astype(int)
    return margin_test(judged(metric, task, y, a, b), margin=0.0, level=0.95).beats


@pytest.mark.parametrize(("metric", "task", "kind"), CALIBRATED)
def test_equally_good_models_beat_each_other_in_about_alpha_of_windows(
    metric: str, task: Task, kind: str
) -> None:
    rate = np.mean([simulate(metric, task, kind, seed, better=False) for seed in range(800)])
    assert 0.02 <= rate <= 0.09, rate


@pytest.mark.parametrize(("metric", "task", "kind"), CALIBRATED)
def test_a_clearly_better_challenger_beats_in_most_windows(
    metric: str, task: Task, kind: str
) -> None:
    rate = np.mean([simulate(metric, task, kind, seed, better=True) for seed in range(100)])
    assert rate > 0.9, rate


def test_non_inferiority_margin_grants_a_slightly_worse_challenger() -> None:
    rng = np.random.default_rng(81)
    y, sa, sb = binary_models(rng, 20_000, 0.985, 1.0)  # the challenger is a little worse
    for metric, a, b in [
        ("accuracy", (sa >= 0.5).astype(int), (sb >= 0.5).astype(int)),
        ("roc_auc", sa, sb),
    ]:
        result = judged(metric, BINARY, y, a, b)
        assert -0.01 < result.improvement < 0, (metric, result)
        assert not margin_test(result, margin=0.0, level=0.95).beats
        tolerant = margin_test(result, margin=-0.02, level=0.95)
        assert tolerant.beats and tolerant.p_value < 0.05
        assert tolerant.lower_bound < result.improvement
        # A positive margin (superiority) is refused all the more.
        assert not margin_test(result, margin=0.01, level=0.95).beats


def test_margin_decision_for_a_normal_method() -> None:
    result = PairedTest("roc_auc", 0.80, 0.78, 0.02, 0.01, 1_000, "paired_delong", 0.0455)
    decision = margin_test(result, margin=0.0, level=0.95)
    assert decision == MarginDecision(
        beats=True,
        lower_bound=pytest.approx(0.02 - 1.6448536 * 0.01),  # type: ignore[arg-type]
        p_value=pytest.approx(stats.norm.sf(2.0)),  # type: ignore[arg-type]
        margin=0.0,
        level=0.95,
    )
    assert not margin_test(result, margin=0.01, level=0.95).beats
    with pytest.raises(ValueError, match="level"):
        margin_test(result, margin=0.0, level=0.4)


# -- rows, refusals, records ------------------------------------------------------------------


def test_missing_values_are_dropped_and_counted() -> None:
    truth = [1, 0, None, 1, 0, 1, 0, 1, 0, 1]
    a = [0.9, 0.2, 0.5, np.nan, 0.3, 0.8, 0.6, 0.7, 0.1, 0.4]
    b = [0.8, 0.4, 0.5, 0.5, None, 0.6, 0.7, 0.9, 0.3, 0.2]
    result = judged("roc_auc", BINARY, truth, a, b)
    assert result.n == 7
    kept = [0, 1, 5, 6, 7, 8, 9]
    y = np.array(truth, dtype=float)[kept]
    assert result.challenger == pytest.approx(skm.roc_auc_score(y, np.array(a)[kept]))
    labels = pd.Series(["x", "y", None, "x", "y", "x"])
    assert judged("accuracy", MULTICLASS, labels, ["x", "y", "x", None, "x", "x"], labels).n == 4


def test_none_when_the_metric_cannot_be_judged() -> None:
    ones = [1, 1, 1, 1, 0]
    assert paired_test("roc_auc", truth=ones, challenger=[0.9, 0.8, 0.7, 0.6, 0.5],
                       champion=[0.5] * 5, task=BINARY) is None  # fmt: skip
    no_positive = dict(truth=[0, 0, 0, 0], challenger=[1, 0, 0, 0], champion=[0, 1, 0, 0])
    assert paired_test("recall", task=BINARY, **no_positive) is None
    assert paired_test("f1", task=BINARY, **no_positive) is None
    never = dict(truth=[1, 0, 1, 0], challenger=[0, 0, 0, 0], champion=[1, 0, 0, 0])
    assert paired_test("precision", task=BINARY, **never) is None
    assert paired_test("rmse", truth=[1.0, None], challenger=[1.0, 2.0], champion=[1.0, 2.0],
                       task=REGRESSION) is None  # fmt: skip


def test_unknown_metrics_and_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'r2' is not supported for regression.*mae, rmse"):
        paired_test("r2", truth=[1.0], challenger=[1.0], champion=[1.0], task=REGRESSION)
    with pytest.raises(ValueError, match="'roc_auc' is not supported for multiclass"):
        paired_test("roc_auc", truth=[1], challenger=[1], champion=[1], task=MULTICLASS)
    with pytest.raises(DataError, match="champion: 1 values outside"):
        paired_test("brier", truth=[0, 1], challenger=[0.2, 0.3], champion=[0.2, 1.3], task=BINARY)
    with pytest.raises(DataError, match="3 values for 2 rows"):
        paired_test("mae", truth=[1.0, 2.0], challenger=[1, 2, 3], champion=[1, 2], task=REGRESSION)
    with pytest.raises(DataError, match="binary task but 3 labels"):
        paired_test("f1", truth=[0, 1, 2], challenger=[0, 1, 1], champion=[0, 1, 0], task=BINARY)


def test_supported_metrics_are_what_each_task_computes() -> None:
    from mlflow_monitor.spec import TASK_METRICS

    for task, metrics in SUPPORTED_METRICS.items():
        assert set(metrics) <= set(TASK_METRICS[task]), task


def test_paired_test_round_trips_through_a_dict() -> None:
    result = judged("accuracy", BINARY, TRUTH, CHALLENGER, CHAMPION)
    assert PairedTest.from_dict(result.to_dict()) == result
    delta = judged("f1", BINARY, TRUTH, CHALLENGER, CHAMPION)
    assert PairedTest.from_dict(delta.to_dict()) == delta
    with pytest.raises(DataError, match=r"paired\.method"):
        PairedTest.from_dict({**result.to_dict(), "method": "eyeball"})
    with pytest.raises(DataError, match=r"paired\.discordant"):
        PairedTest.from_dict({**result.to_dict(), "discordant": [1]})


# -- a million rows ---------------------------------------------------------------------------


def test_a_million_rows_give_finite_numbers() -> None:
    rng = np.random.default_rng(91)
    n = 1_000_000
    y, sa, sb = binary_models(rng, n, 1.0, 0.95)
    la, lb = (sa >= 0.5).astype(int), (sb >= 0.5).astype(int)
    ry, ra, rb = regression_models(rng, n, 0.9, 1.0)
    my, ma, mb = multiclass_models(rng, n, 0.7, 0.68)
    cases = [(m, BINARY, y, sa, sb) for m in ("roc_auc", "log_loss", "brier")]
    cases += [(m, BINARY, y, la, lb) for m in ("accuracy", "precision", "recall", "f1")]
    cases += [(m, REGRESSION, ry, ra, rb) for m in ("mae", "rmse")]
    cases += [(m, MULTICLASS, my, ma, mb) for m in ("accuracy", "f1_macro")]
    for metric, task, truth, a, b in cases:
        result = judged(metric, task, truth, a, b)
        numbers = (result.challenger, result.champion, result.improvement, result.standard_error)
        assert result.n == n and all(map(math.isfinite, numbers)), (metric, task)
        assert result.standard_error > 0
        assert math.isfinite(margin_test(result, margin=0.0, level=0.95).lower_bound)

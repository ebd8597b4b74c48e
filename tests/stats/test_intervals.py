"""Confidence intervals against published worked examples and independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata
from scipy.stats.contingency import relative_risk
from sklearn.metrics import roc_auc_score

from mlflow_monitor.stats.intervals import (
    delong_auc,
    hanley_mcneil_auc,
    katz_log,
    newcombe,
    wilson,
    z_value,
)

LEVEL = 0.95


def test_z_value_of_the_usual_levels() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.90) == pytest.approx(1.644854, abs=1e-6)
    with pytest.raises(ValueError, match="between 0 and 1"):
        z_value(1.0)


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),  # Newcombe 1998a (single proportion), method 3
        (81, 263, 0.2553, 0.3662),  # Newcombe 1998a, table I
        (15, 148, 0.0624, 0.1605),  # Newcombe 1998a, table I
    ],
)
def test_wilson_matches_newcombe_1998_single_proportion(
    x: int, n: int, low: float, high: float
) -> None:
    lo, hi = wilson(x, n, level=LEVEL)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_refuses_an_empty_denominator() -> None:
    with pytest.raises(ValueError, match="denominator must be positive"):
        wilson(0, 0, level=LEVEL)


@pytest.mark.parametrize(
    ("counts", "low", "high"),
    [
        ((56, 70, 48, 80), 0.0524, 0.3339),  # Newcombe 1998b, table II, example (a)
        ((9, 10, 3, 10), 0.1705, 0.8090),  # example (b)
        ((5, 56, 0, 29), -0.0381, 0.1926),  # example (d)
        ((0, 10, 0, 20), -0.1611, 0.2775),  # example (e)
        ((10, 10, 0, 10), 0.6075, 1.0000),  # example (h)
    ],
)
def test_newcombe_matches_table_ii_of_newcombe_1998(
    counts: tuple[int, int, int, int], low: float, high: float
) -> None:
    lo, hi = newcombe(*counts, level=LEVEL)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_newcombe_is_antisymmetric_in_its_two_samples() -> None:
    lo, hi = newcombe(12, 40, 30, 50, level=LEVEL)
    back_lo, back_hi = newcombe(30, 50, 12, 40, level=LEVEL)
    assert (lo, hi) == pytest.approx((-back_hi, -back_lo))


def test_katz_log_matches_the_documented_relative_risk_example() -> None:
    """27/122 exposed vs 44/487 controls: RR 2.4495, 95% CI 1.5837 to 3.7887 (scipy's docs)."""
    lo, hi = katz_log(27, 122, 44, 487, level=LEVEL)
    assert hi is not None
    assert (round(lo, 4), round(hi, 4)) == (1.5837, 3.7887)
    theirs = relative_risk(27, 122, 44, 487).confidence_interval(confidence_level=LEVEL)
    assert (lo, hi) == pytest.approx((theirs.low, theirs.high), rel=1e-10)


def test_katz_log_with_zero_counts_stays_finite_where_it_is_known() -> None:
    lo, hi = katz_log(0, 40, 20, 40, level=LEVEL)
    assert hi is not None and 0.0 < lo < hi < 0.8  # no selections at all: clearly below 0.8
    assert katz_log(0, 5, 0, 5, level=LEVEL) == (0.0, None)  # nothing known about the ratio


def _separable_scores(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    positive = rng.random(rows) < 0.3
    scores = rng.normal(np.where(positive, 1.0, 0.0), 1.0).round(1)  # rounded: ties included
    return scores, positive


def test_delong_auc_equals_sklearn_and_its_se_agrees_with_a_bootstrap() -> None:
    scores, positive = _separable_scores(600, seed=3)
    auc, se = delong_auc(scores, positive)
    assert auc == pytest.approx(roc_auc_score(positive, scores), rel=1e-12)
    rng = np.random.default_rng(11)
    boot = [_mann_whitney_auc(scores[i], positive[i]) for i in _resamples(rng, len(scores), 1_000)]
    assert se == pytest.approx(float(np.std(boot, ddof=1)), rel=0.10)


def _resamples(rng: np.random.Generator, rows: int, times: int) -> list[np.ndarray]:
    return [rng.integers(0, rows, rows) for _ in range(times)]


def _mann_whitney_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """AUC as the Mann-Whitney U over m * n (scipy's ranks: independent of the code tested)."""
    m, n = int(positive.sum()), int((~positive).sum())
    return float((rankdata(scores)[positive].sum() - m * (m + 1) / 2) / (m * n))


def test_hanley_mcneil_is_close_to_delong_on_a_binormal_sample() -> None:
    scores, positive = _separable_scores(2_000, seed=5)
    auc, se = delong_auc(scores, positive)
    assert hanley_mcneil_auc(auc, int(positive.sum()), int((~positive).sum())) == pytest.approx(
        se, rel=0.15
    )
    with pytest.raises(ValueError, match="at least two rows"):
        delong_auc(np.array([0.1, 0.9, 0.8]), np.array([True, False, False]))

"""Drift from profiles against Evidently 0.7 and scipy computing the same method on raw frames.

The tolerances are the ones stated in ``mlflow_monitor/stats/drift.py``'s docstring. Evidently's
stattests run on the column with NaN and infinities dropped, as Evidently's data drift does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests import (
    chi_stat_test,
    jensenshannon_stat_test,
    ks_stat_test,
    psi_stat_test,
    wasserstein_stat_test,
    z_stat_test,
)
from evidently.legacy.calculations.stattests.registry import StatTest, get_stattest
from evidently.legacy.core import ColumnType
from scipy import stats
from scipy.spatial import distance

from mlflow_monitor.stats.drift import compute_drift
from mlflow_monitor.stats.profile import DatasetProfile
from tests.stats.conftest import CATEGORICAL, NUMERICAL, make_pair

EVIDENTLY: dict[str, StatTest] = {
    "psi": psi_stat_test,
    "jensenshannon": jensenshannon_stat_test,
    "ks": ks_stat_test,
    "wasserstein": wasserstein_stat_test,
    "chisquare": chi_stat_test,
    "z": z_stat_test,
}
CONTINUOUS = ("normal", "skewed")
METHODS_PER_COLUMN: dict[str, tuple[str, ...]] = {
    "normal": ("ks", "wasserstein", "psi", "jensenshannon"),
    "skewed": ("ks", "wasserstein", "psi", "jensenshannon"),
    "rating": ("ks", "wasserstein", "psi", "jensenshannon", "chisquare"),
    "flag": ("ks", "wasserstein", "psi", "jensenshannon", "chisquare", "z"),
    "city": ("psi", "jensenshannon", "chisquare"),
    "target": ("psi", "jensenshannon", "chisquare", "z"),
}

# Stated in drift.py: value counts are exact; continuous columns above 10,000 rows use bins.
EXACT_REL = 1e-9
KS_STATISTIC_ABS = 0.002
KS_P_VALUE_ABS = 0.1
WASSERSTEIN_ABS = 0.002
# PSI / JS on continuous columns: Evidently - ABS <= ours <= FACTOR * Evidently + ABS, with
# FACTOR 1 on the symmetric column and the stated factor on the skewed (log-normal) one.
BINNED_ABS = {"jensenshannon": 0.01, "psi": 0.015}
SKEWED_FACTOR = {"jensenshannon": 2.0, "psi": 3.5}


def _clean(series: pd.Series) -> pd.Series:
    return series.replace([np.inf, -np.inf], np.nan).dropna()


def _kind(column: str) -> ColumnType:
    return ColumnType.Numerical if column in NUMERICAL else ColumnType.Categorical


def _evidently(method: str, reference: pd.Series, current: pd.Series, column: str) -> float:
    score, _ = EVIDENTLY[method].func(reference, current, _kind(column), 0.1)
    return float(score)


def _profiles(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[DatasetProfile, ...]:
    ref = DatasetProfile.from_frame(reference, numerical=NUMERICAL, categorical=CATEGORICAL)
    cur = DatasetProfile.from_frame(
        current, numerical=NUMERICAL, categorical=CATEGORICAL, reference=ref
    )
    return ref, cur


def _assert_parity(rows: int, shift: float) -> None:
    reference, current = make_pair(rows, shift, seed=11)
    reference.loc[::50, "normal"] = np.nan
    current.loc[::40, "skewed"] = np.inf
    ref, cur = _profiles(reference, current)
    for column, methods in METHODS_PER_COLUMN.items():
        ref_raw, cur_raw = _clean(reference[column]), _clean(current[column])
        for method in methods:
            ours = compute_drift(ref, cur, [column], methods={column: method}).get(column)
            assert ours.score is not None and ours.status == "ok"
            expected = _evidently(method, ref_raw, cur_raw, column)
            check = _tolerance_check(method, column, rows)
            check(ours.score, expected, f"{method} on {column} ({rows} rows, shift {shift})")
    _assert_auto_parity(reference, current, ref, cur)


def _tolerance_check(method: str, column: str, rows: int) -> Callable[[float, float, str], None]:
    binned = column in CONTINUOUS and rows > 10_000
    if method in BINNED_ABS and column in CONTINUOUS:
        factor = SKEWED_FACTOR[method] if column == "skewed" else 1.0
        return _bracket(BINNED_ABS[method], factor)
    if binned and method == "ks":
        return _absolute(KS_P_VALUE_ABS)
    if binned and method == "wasserstein":
        return _absolute(WASSERSTEIN_ABS)
    return _relative(EXACT_REL)


def _absolute(tolerance: float) -> Callable[[float, float, str], None]:
    def check(ours: float, expected: float, label: str) -> None:
        assert abs(ours - expected) <= tolerance, f"{label}: {ours} vs {expected}"

    return check


def _bracket(tolerance: float, factor: float) -> Callable[[float, float, str], None]:
    def check(ours: float, expected: float, label: str) -> None:
        low, high = expected - tolerance, factor * expected + tolerance
        assert low <= ours <= high, f"{label}: {ours} not in [{low}, {high}]"

    return check


def _relative(tolerance: float) -> Callable[[float, float, str], None]:
    def check(ours: float, expected: float, label: str) -> None:
        assert ours == pytest.approx(expected, rel=tolerance, abs=1e-12), label

    return check


def _assert_auto_parity(
    reference: pd.DataFrame, current: pd.DataFrame, ref: DatasetProfile, cur: DatasetProfile
) -> None:
    """The auto-selected method, its score and its decision equal Evidently's."""
    report = compute_drift(ref, cur)
    for column in METHODS_PER_COLUMN:
        ref_raw, cur_raw = _clean(reference[column]), _clean(current[column])
        stattest = get_stattest(ref_raw, cur_raw, _kind(column), None)
        result = stattest(ref_raw, cur_raw, _kind(column), None)
        ours = report.get(column)
        assert ours.method == stattest.name, column
        assert ours.score is not None
        _tolerance_check(ours.method, column, len(reference))(
            ours.score, float(result.drift_score), f"auto {ours.method} on {column}"
        )
        assert ours.drifted == bool(result.drifted), column


def _assert_scipy_parity(rows: int, shift: float) -> None:
    reference, current = make_pair(rows, shift, seed=5)
    ref, cur = _profiles(reference, current)
    exact = rows <= 10_000
    for column in CONTINUOUS:
        ks = compute_drift(ref, cur, [column], methods={column: "ks"}).get(column)
        expected = stats.ks_2samp(reference[column], current[column])
        assert ks.statistic is not None and ks.score is not None
        if exact:
            assert ks.statistic == pytest.approx(expected.statistic, rel=EXACT_REL)
            assert ks.score == pytest.approx(expected.pvalue, rel=EXACT_REL)
        else:
            assert abs(ks.statistic - expected.statistic) <= KS_STATISTIC_ABS
            assert abs(ks.score - expected.pvalue) <= KS_P_VALUE_ABS
        wd = compute_drift(ref, cur, [column], methods={column: "wasserstein"}).get(column)
        raw = stats.wasserstein_distance(reference[column], current[column])
        norm = max(float(np.std(reference[column])), 0.001)
        assert wd.score == pytest.approx(
            raw / norm, rel=EXACT_REL, abs=0 if exact else WASSERSTEIN_ABS
        )
    shares = pd.concat(
        [reference["city"].value_counts(), current["city"].value_counts()], axis=1
    ).fillna(0)
    js = compute_drift(ref, cur, ["city"], methods={"city": "jensenshannon"}).get("city")
    observed, expected_counts = shares.iloc[:, 1], shares.iloc[:, 0]
    assert js.score == pytest.approx(
        float(distance.jensenshannon(expected_counts / rows, observed / rows)), rel=EXACT_REL
    )
    chi = compute_drift(ref, cur, ["city"], methods={"city": "chisquare"}).get("city")
    assert chi.score == pytest.approx(
        float(
            stats.chisquare(
                observed, expected_counts * observed.sum() / expected_counts.sum()
            ).pvalue
        ),
        rel=EXACT_REL,
        abs=1e-300,
    )


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_parity_with_evidently_at_1000_rows(shift: float) -> None:
    _assert_parity(1000, shift)


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_parity_with_scipy_at_1000_rows(shift: float) -> None:
    _assert_scipy_parity(1000, shift)


@pytest.mark.slow
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_parity_with_evidently_at_1m_rows(shift: float) -> None:
    _assert_parity(1_000_000, shift)


@pytest.mark.slow
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_parity_with_scipy_at_1m_rows(shift: float) -> None:
    _assert_scipy_parity(1_000_000, shift)

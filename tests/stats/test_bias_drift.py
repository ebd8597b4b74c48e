"""Bias drift: own-denominator minimums, Benjamini-Hochberg, minimum effect, intervals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from mlflow_monitor.stats.bias_drift import (
    MIN_TEST_DENOMINATOR,
    BiasDriftReport,
    compare_fairness,
    two_proportion_z,
)
from mlflow_monitor.stats.fairness import (
    GROUP_METRICS,
    AttributeFairness,
    FairnessReport,
    GroupMetrics,
    compute_fairness,
)
from mlflow_monitor.stats.intervals import newcombe
from tests.fixtures.lending import FAIR, GroupRates, lending_frame

LEVEL = 0.95


def _lending_report(frame: pd.DataFrame) -> FairnessReport:
    return compute_fairness(
        frame[["sex", "race"]],
        frame["approved"].to_numpy(dtype=bool),
        frame["repaid"].to_numpy(dtype=float),
    )


def _report(*groups: GroupMetrics) -> FairnessReport:
    """A one-attribute report straight from confusion counts (no frame needed)."""
    attr = AttributeFairness("sex", ("sex",), "majority", groups[0].group, groups, ())
    return FairnessReport(sum(g.size for g in groups), True, 1, (attr,))


def _group(name: str, *, tp: int, fp: int, fn: int, tn: int) -> GroupMetrics:
    return GroupMetrics("sex", name, tp + fp + fn + tn, tp + fp, tp + fp + fn + tn, tp, fp, fn, tn)


def _compare(
    base: FairnessReport, cur: FairnessReport, *, min_group_size: int = 30, min_effect: float = 0.0
) -> BiasDriftReport:
    return compare_fairness(
        base, cur, alpha=0.05, min_group_size=min_group_size, min_effect=min_effect, level=LEVEL
    )


def test_two_proportion_z_matches_the_chi_square_test() -> None:
    z, p = two_proportion_z(30, 200, 60, 220)
    table = np.array([[30, 170], [60, 160]])
    chi2, p_chi, _, _ = chi2_contingency(table, correction=False)
    assert z**2 == pytest.approx(chi2) and p == pytest.approx(p_chi)
    assert two_proportion_z(0, 50, 0, 70) == (0.0, 1.0)


def test_bias_drift_weighs_changes_by_group_size_and_adjusts_with_bh() -> None:
    small_groups = {
        "female": GroupRates(0.02, 0.6, 0.15, 0.10),
        "male": GroupRates(0.98, 0.6, 0.15, 0.10),
    }
    drifted = {
        "female": GroupRates(0.02, 0.6, 0.30, 0.10),
        "male": GroupRates(0.98, 0.6, 0.30, 0.10),
    }
    base = _lending_report(lending_frame(20_000, groups=small_groups, seed=11))
    cur = _lending_report(lending_frame(20_000, groups=drifted, seed=12))
    drift = _compare(base, cur, min_effect=0.05)
    by_key = {(c.attribute, c.group, c.metric): c for c in drift.changes}
    big, small = by_key[("sex", "male", "fnr")], by_key[("sex", "female", "fnr")]
    assert big.significant and big.change is not None and big.change > 0.1
    assert small.baseline_n < 300 and small.p_adjusted is not None
    assert small.p_adjusted > big.p_adjusted  # type: ignore[operator]
    tested = [c for c in drift.changes if c.status == "tested"]
    p = np.array([c.p_value for c in tested])
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    hand = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    assert np.allclose(np.array([c.p_adjusted for c in tested])[order], hand)


def test_unchanged_data_finds_nothing_and_skips_small_denominators() -> None:
    base = _lending_report(lending_frame(10_000, groups=FAIR, seed=13))
    cur = _lending_report(lending_frame(10_000, groups=FAIR, seed=14))
    drift = _compare(base, cur, min_group_size=2_000, min_effect=0.05)
    statuses = {c.status for c in drift.changes}
    assert "insufficient_data" in statuses and "tested" in statuses
    assert not drift.significant
    assert set(GROUP_METRICS) == {c.metric for c in drift.changes}


def test_minimum_applies_to_the_metric_own_denominator_on_both_sides() -> None:
    # 1,000 rows a side but only 12 actual positives in the window: FNR is not tested,
    # selection rate (denominator: rows) is.
    base = _report(_group("female", tp=300, fp=100, fn=100, tn=500))
    cur = _report(_group("female", tp=2, fp=200, fn=10, tn=788))
    drift = _compare(base, cur, min_group_size=30)
    by_metric = {c.metric: c for c in drift.changes}
    fnr = by_metric["fnr"]
    assert fnr.status == "insufficient_data" and fnr.z is None and fnr.p_value is None
    assert (fnr.baseline_n, fnr.current_n) == (400, 12)
    assert "12 (window) positives < minimum 30" in fnr.note
    assert by_metric["selection_rate"].status == "tested"
    assert by_metric["fpr"].status == "tested"  # 600 and 988 actual negatives


def test_never_a_z_test_on_a_handful_of_cases_even_with_min_group_size_one() -> None:
    base = _report(_group("x", tp=1, fp=0, fn=0, tn=1))
    cur = _report(_group("x", tp=0, fp=1, fn=1, tn=0))
    drift = _compare(base, cur, min_group_size=1, min_effect=0.0)
    assert drift.changes and all(c.status != "tested" for c in drift.changes)
    assert all(c.p_value is None and not c.significant for c in drift.changes)
    assert any(f"< minimum {MIN_TEST_DENOMINATOR}" in c.note for c in drift.changes)


def test_a_change_counts_only_when_significant_and_large_enough() -> None:
    # selection rate 0.40 -> 0.42 over 50,000 rows a side: BH-significant, below 0.05
    base = _report(_group("f", tp=20_000, fp=0, fn=0, tn=30_000))
    cur = _report(_group("f", tp=21_000, fp=0, fn=0, tn=29_000))
    small = {c.metric: c for c in _compare(base, cur, min_effect=0.05).changes}
    sel = small["selection_rate"]
    assert sel.bh_significant and not sel.significant
    assert sel.change == pytest.approx(0.02)
    counted = {c.metric: c for c in _compare(base, cur, min_effect=0.01).changes}
    assert counted["selection_rate"].significant


def test_each_tested_change_carries_newcombe_interval_of_window_minus_baseline() -> None:
    base = _report(_group("f", tp=120, fp=80, fn=80, tn=720))
    cur = _report(_group("f", tp=150, fp=60, fn=50, tn=540))
    drift = _compare(base, cur)
    sel = next(c for c in drift.changes if c.metric == "selection_rate")
    expected = newcombe(210, 800, 200, 1000, level=LEVEL)
    assert (sel.low, sel.high) == pytest.approx(expected)
    assert sel.low is not None and sel.high is not None and sel.change is not None
    assert sel.low < sel.change < sel.high
    assert drift.level == LEVEL and drift.min_effect == 0.0


def test_report_round_trips_through_json_and_reads_old_reports() -> None:
    base = _report(_group("f", tp=120, fp=80, fn=80, tn=720))
    cur = _report(_group("f", tp=150, fp=60, fn=50, tn=540))
    drift = _compare(base, cur, min_effect=0.05)
    assert BiasDriftReport.from_dict(json.loads(json.dumps(drift.to_dict()))) == drift
    old = drift.to_dict()
    del old["min_effect"], old["level"]
    for change in old["changes"]:  # type: ignore[attr-defined]
        del change["low"], change["high"], change["bh_significant"]
    restored = BiasDriftReport.from_dict(old)
    assert restored.level == 0.95 and all(c.low is None for c in restored.changes)

"""Segments: the decayed segment ranks first, small segments are insufficient_data with counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.intervals import delong_auc
from mlflow_monitor.stats.segments import (
    MISSING_SEGMENT,
    SegmentBaseline,
    SegmentCounts,
    SegmentReport,
    compute_segments,
    merge_segment_counts,
    reference_segments,
    segment_counts,
    segments_from_counts,
)

REGIONS = {"north": 900, "south": 900, "east": 900, "west": 600, "tiny": 150}


def _frame(
    seed: int, sizes: dict[str, int], *, decayed: str = "", shifted: str = ""
) -> pd.DataFrame:
    """Binary churn data; ``decayed`` gets uninformative scores, ``shifted`` shifted features."""
    rng = np.random.default_rng(seed)
    region = np.repeat(list(sizes), list(sizes.values()))
    n = region.size
    target = rng.integers(0, 2, n)
    score = np.clip(0.45 * target + 0.55 * rng.random(n), 0, 1)
    if decayed:
        bad = region == decayed
        score[bad] = rng.random(int(bad.sum()))
    age = rng.normal(40, 10, n) + np.where(region == shifted, 15.0, 0.0)
    plan = rng.choice(["basic", "pro"], n, p=[0.7, 0.3])
    if shifted:
        plan[region == shifted] = "pro"
    return pd.DataFrame(
        {
            "region": region,
            "age": age,
            "plan": plan,
            "churned": target,
            "score": score,
            "pred": (score >= 0.5).astype(int),
        }
    )


def _baseline(frame: pd.DataFrame) -> SegmentBaseline:
    return reference_segments(
        frame,
        task="binary_classification",
        segment_columns=["region", "plan"],
        target="churned",
        prediction="pred",
        score="score",
        numerical=["age"],
        categorical=["plan"],
    )


@pytest.fixture(scope="module")
def baseline() -> SegmentBaseline:
    return _baseline(_frame(1, REGIONS))


@pytest.fixture(scope="module")
def window() -> pd.DataFrame:
    sizes = {**REGIONS, "tiny": 20, "central": 300}
    return _frame(2, sizes, decayed="south", shifted="east")


def test_decayed_segment_ranks_first(baseline: SegmentBaseline, window: pd.DataFrame) -> None:
    report = compute_segments(window, baseline, min_size=100)
    assert report.metric == "roc_auc"
    worst = report.results[0]
    assert (worst.column, worst.segment, worst.status) == ("region", "south", "ok")
    south = window[window["region"] == "south"]
    assert worst.value == skm.roc_auc_score(south["churned"], south["score"])
    assert worst.change is not None and worst.change < -0.2
    assert worst.degradation == -worst.change
    degradations = [r.degradation for r in report.results if r.degradation is not None]
    assert degradations == sorted(degradations, reverse=True)


def test_drift_share_is_per_segment(baseline: SegmentBaseline, window: pd.DataFrame) -> None:
    report = compute_segments(window, baseline, min_size=100)
    by_segment = {(r.column, r.segment): r for r in report.results}
    assert by_segment[("region", "east")].share_drifted == 1.0  # age and plan both moved
    assert by_segment[("region", "north")].share_drifted == 0.0
    # Inside a plan segment only age is a feature (plan itself is constant there).
    assert by_segment[("plan", "basic")].share_drifted == 0.0
    assert by_segment[("plan", "pro")].share_drifted == 1.0  # holds east's shifted ages


def test_small_segment_is_insufficient_with_count(
    baseline: SegmentBaseline, window: pd.DataFrame
) -> None:
    report = compute_segments(window, baseline, min_size=100)
    tiny = next(r for r in report.results if r.segment == "tiny")
    assert (tiny.status, tiny.rows, tiny.reference_rows) == ("insufficient_data", 20, 150)
    assert tiny.value is None and tiny.share_drifted is None
    assert "20 rows in the window, below min_size 100" in tiny.note
    assert report.results[-1].status == "insufficient_data"
    grown = _frame(3, {**REGIONS, "tiny": 300})
    small_reference = compute_segments(grown, baseline, min_size=200)
    tiny = next(r for r in small_reference.results if r.segment == "tiny")
    assert (tiny.status, tiny.rows, tiny.reference_rows) == ("insufficient_data", 300, 150)
    assert "150 rows in the reference, below min_size 200" in tiny.note


def test_new_segment_is_reported_without_baseline(
    baseline: SegmentBaseline, window: pd.DataFrame
) -> None:
    report = compute_segments(window, baseline, min_size=100)
    central = next(r for r in report.results if r.segment == "central")
    assert central.status == "ok" and central.reference_rows is None and central.is_new
    assert central.baseline_value is None and central.change is None
    assert central.value is not None and "new segment" in central.note


def test_label_free_window_still_reports_drift(
    baseline: SegmentBaseline, window: pd.DataFrame
) -> None:
    report = compute_segments(window.drop(columns=["churned"]), baseline, min_size=100)
    east = next(r for r in report.results if r.segment == "east")
    assert east.value is None and east.share_drifted == 1.0
    assert "0 labelled rows" in east.note
    # Without labels the ranking falls back to drift: drifted segments before undrifted ones.
    order = [(r.column, r.segment) for r in report.results]
    assert report.results[0].share_drifted == 1.0
    assert order.index(("region", "east")) < order.index(("region", "north"))


def test_baseline_and_report_round_trip_through_json(
    baseline: SegmentBaseline, window: pd.DataFrame
) -> None:
    again = SegmentBaseline.from_dict(json.loads(json.dumps(baseline.to_dict())))
    report = compute_segments(window, baseline, min_size=100)
    assert compute_segments(window, again, min_size=100) == report
    assert SegmentReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert report.metrics()["segment/region=south/roc_auc"] == report.results[0].value


def test_regression_error_rise_is_degradation() -> None:
    rng = np.random.default_rng(4)
    group = np.repeat(["a", "b", "c"], 300)
    x = rng.normal(0, 1, 900)
    y = 3 * x + rng.normal(0, 0.5, 900)
    reference = pd.DataFrame({"group": group, "x": x, "y": y, "yhat": 3 * x})
    window = reference.assign(yhat=np.where(group == "b", 3 * x + 2.0, 3 * x))
    baseline = reference_segments(
        reference, task="regression", segment_columns=["group"], target="y",
        prediction="yhat", numerical=["x"], categorical=[],
    )  # fmt: skip
    report = compute_segments(window, baseline, min_size=50)
    assert report.metric == "rmse"
    worst = report.results[0]
    assert worst.segment == "b" and worst.degradation == worst.change and worst.change > 1.5
    b = window[group == "b"]
    assert worst.value == skm.root_mean_squared_error(b["y"], b["yhat"])


def test_missing_and_float_segment_values_are_keyed_stably() -> None:
    rng = np.random.default_rng(8)
    tier = np.r_[np.full(200, 1.0), np.full(200, 2.0), np.full(200, np.nan)]
    frame = pd.DataFrame(
        {"tier": tier, "x": rng.normal(size=600), "y": rng.normal(size=600)}
    ).assign(yhat=lambda f: f["y"] + 0.1)
    baseline = reference_segments(
        frame, task="regression", segment_columns=["tier"], target="y", prediction="yhat",
        numerical=["x"], categorical=[],
    )  # fmt: skip
    assert sorted(s.segment for s in baseline.segments) == sorted(["1", "2", MISSING_SEGMENT])
    as_int = frame.dropna(subset=["tier"]).astype({"tier": int})
    report = compute_segments(as_int, baseline, min_size=10)
    assert {r.segment: r.rows for r in report.results} == {"1": 200, "2": 200, MISSING_SEGMENT: 0}


def test_missing_segment_column_is_a_data_error(baseline: SegmentBaseline) -> None:
    with pytest.raises(DataError, match="segment column 'region' is missing"):
        compute_segments(pd.DataFrame({"age": [1.0]}), baseline)


# -- what the drop's interval needs: standard errors and class counts -----------------------------


def test_each_side_carries_its_standard_error_and_class_counts(
    baseline: SegmentBaseline, window: pd.DataFrame
) -> None:
    report = compute_segments(window, baseline, min_size=100, level=0.9, min_class_size=20)
    assert (report.level, report.min_class_size) == (0.9, 20)
    north = next(r for r in report.results if r.segment == "north")
    part = window[window["region"] == "north"]
    auc, error = delong_auc(part["score"].to_numpy(), part["churned"].to_numpy() == 1)
    assert north.spread is not None and north.baseline_spread is not None
    assert (north.value, north.spread.standard_error) == (pytest.approx(auc), pytest.approx(error))
    assert north.spread.method == north.baseline_spread.method == "delong"
    positives = int(part["churned"].sum())
    assert north.spread.classes == {"positives": positives, "negatives": 900 - positives}
    assert north.spread.denominator == 900 and north.baseline_spread.denominator == 900
    reference = baseline.get("region", "north")
    assert reference is not None
    assert north.baseline_spread.standard_error == reference.performance.standard_errors["roc_auc"]


def test_a_class_below_min_class_size_is_insufficient_with_the_counts() -> None:
    rng = np.random.default_rng(12)
    sizes = {"common": 600, "rare": 400}
    reference = _frame(1, sizes)
    window = _frame(2, sizes)
    rare = (window["region"] == "rare").to_numpy()
    keep = np.flatnonzero(rare & (window["churned"] == 1).to_numpy())[:12]
    window.loc[rare, "churned"] = 0
    window.loc[keep, "churned"] = 1
    window.loc[rare, "score"] = rng.random(int(rare.sum()))
    report = compute_segments(window, _baseline(reference), min_size=100, min_class_size=20)
    result = next(r for r in report.results if r.segment == "rare")
    assert result.status == "insufficient_data" and result.value is not None
    assert result.note.startswith("12 positives in the window, below min_class_size 20")
    assert result.share_drifted is not None  # the segment is big enough for drift
    common = next(r for r in report.results if r.segment == "common")
    assert common.status == "ok"
    lenient = compute_segments(window, _baseline(reference), min_size=100, min_class_size=10)
    assert next(r for r in lenient.results if r.segment == "rare").status == "ok"


def _written_by_an_older_release(baseline: SegmentBaseline) -> SegmentBaseline:
    body = baseline.to_dict()
    for segment in body["segments"]:  # type: ignore[union-attr]
        for key in ("standard_errors", "denominators", "counts"):
            segment["performance"].pop(key)  # type: ignore[index]
    return SegmentBaseline.from_dict(body)


def test_an_older_baseline_gets_hanley_mcneil_from_its_confusion_counts(
    baseline: SegmentBaseline, window: pd.DataFrame
) -> None:
    old = _written_by_an_older_release(baseline)
    report = compute_segments(window, old, min_size=100)
    north = next(r for r in report.results if r.segment == "north")
    assert north.baseline_spread is not None and north.baseline_spread.method == "hanley_mcneil"
    reference = baseline.get("region", "north")
    assert reference is not None
    assert north.baseline_spread.classes == reference.performance.counts
    delong = reference.performance.standard_errors["roc_auc"]
    # Same order as DeLong's; conservative on these well separated scores (AUC ~0.98).
    assert delong <= (north.baseline_spread.standard_error or 0.0) <= 2 * delong


def test_an_older_regression_baseline_scales_the_windows_standard_error() -> None:
    rng = np.random.default_rng(5)
    group = np.repeat(["a", "b"], [800, 400])
    x = rng.normal(0, 1, 1200)
    frame = pd.DataFrame({"group": group, "x": x, "y": x + rng.normal(0, 1, 1200), "yhat": x})
    baseline = reference_segments(
        frame, task="regression", segment_columns=["group"], target="y", prediction="yhat",
        numerical=["x"], categorical=[],
    )  # fmt: skip
    window = frame.iloc[rng.permutation(1200)[:600]]
    report = compute_segments(window, _written_by_an_older_release(baseline), min_size=50)
    a = next(r for r in report.results if r.segment == "a")
    assert a.spread is not None and a.baseline_spread is not None
    assert a.baseline_spread.method == "scaled" and a.spread.method == "normal"
    ratio = a.baseline_spread.standard_error / a.spread.standard_error  # type: ignore[operator]
    assert ratio == pytest.approx(np.sqrt(a.labelled_rows / 800))


def test_drift_min_effect_reaches_the_segments_drift(
    baseline: SegmentBaseline, window: pd.DataFrame
) -> None:
    east = {
        effect: next(
            r
            for r in compute_segments(
                window, baseline, min_size=100, drift_min_effect=effect
            ).results
            if r.segment == "east"
        )
        for effect in (0.0, 0.9)
    }
    assert east[0.0].share_drifted == 1.0  # age (ks: D ~ 0.55) and plan (z: 0.7 of share) moved
    assert east[0.9].share_drifted == 0.0  # both significant, neither that large


def test_counts_of_three_parts_merged_judge_as_the_whole(
    baseline: SegmentBaseline, window: pd.DataFrame
) -> None:
    """The partitioned path (``segment_counts`` per part, merged, ``segments_from_counts``)
    reports the same segments as ``compute_segments``: counts exactly, ROC AUC from binned
    scores within its bound, the same statuses."""
    shuffled = window.sample(frac=1.0, random_state=3).reset_index(drop=True)
    parts = np.array_split(np.arange(len(shuffled)), 3)
    merged: dict[tuple[str, str], SegmentCounts] = {}
    for positions in parts:
        merged = merge_segment_counts(merged, segment_counts(shuffled.iloc[positions], baseline))
    got = segments_from_counts(merged, baseline, min_size=100)
    want = compute_segments(shuffled, baseline, min_size=100)
    key = [(r.column, r.segment, r.rows, r.labelled_rows, r.status) for r in want.results]
    assert [(r.column, r.segment, r.rows, r.labelled_rows, r.status) for r in got.results] == key
    assert got.notes == want.notes and got.metric == want.metric == "roc_auc"
    assert ("region", "central", 300, 300, "ok") in key  # a new segment, judged too
    for a, b in zip(got.results, want.results, strict=True):
        assert (a.value is None) == (b.value is None) and (a.share_drifted is None) == (
            b.share_drifted is None
        )
        if b.value is not None:
            assert a.value == pytest.approx(b.value, abs=1e-4)  # 65,536 score bins
            assert a.spread is not None and b.spread is not None
            assert a.spread.classes == b.spread.classes
            assert a.spread.standard_error == pytest.approx(b.spread.standard_error, rel=1e-3)
        if b.share_drifted is not None:
            assert a.share_drifted == pytest.approx(b.share_drifted, abs=1e-12)

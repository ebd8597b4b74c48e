"""Fairness group metrics, disparities, their denominators and intervals (pure statistics)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from aequitas import Audit

from mlflow_monitor.stats.fairness import (
    FAVORABLE_RATE,
    GROUP_METRICS,
    MISSING_GROUP,
    FairnessCounts,
    FairnessReport,
    GroupMetrics,
    compute_fairness,
    denominator_word,
)
from mlflow_monitor.stats.intervals import katz_log, newcombe, wilson
from tests.fixtures.lending import UNFAIR_FNR, lending_frame

# our metric name -> aequitas crosstab column
AEQUITAS_NAMES = {
    "selection_rate": "pprev",
    "prevalence": "prev",
    "tpr": "tpr",
    "fpr": "fpr",
    "fnr": "fnr",
    "fdr": "fdr",
    "for": "for",
    "precision": "precision",
}


def _report(frame: pd.DataFrame, **kwargs: object) -> FairnessReport:
    return compute_fairness(
        frame[["sex", "race"]],
        frame["approved"].to_numpy(dtype=bool),
        frame["repaid"].to_numpy(dtype=float),
        **kwargs,  # type: ignore[arg-type]
    )


def _se(p: float, n: float) -> float:
    return math.sqrt(p * (1 - p) / n)


def test_injected_fnr_disparity_is_recovered_within_sampling_error() -> None:
    n = 40_000
    frame = lending_frame(n, groups=UNFAIR_FNR, seed=1)
    report = _report(frame, reference_groups={"sex": "male"})
    sex = report.attribute("sex")
    assert sex is not None and sex.reference_group == "male"
    female, male = UNFAIR_FNR["female"], UNFAIR_FNR["male"]
    pos_f = n * female.share * female.prevalence
    pos_m = n * male.share * male.prevalence
    se_f, se_m = _se(female.fnr, pos_f), _se(male.fnr, pos_m)
    d = sex.disparity("female", "fnr")
    assert d is not None and d.difference is not None and d.ratio is not None
    assert abs(d.difference - 0.15) < 4 * math.hypot(se_f, se_m)
    ratio_se = 2.0 * math.hypot(se_f / female.fnr, se_m / male.fnr)
    assert abs(d.ratio - 2.0) < 4 * ratio_se
    for name, truth in UNFAIR_FNR.items():
        g = sex.group(name)
        assert g is not None
        sel = g.rate("selection_rate")
        assert sel is not None
        assert abs(sel - truth.selection_rate) < 4 * _se(truth.selection_rate, g.size)
    fair = sex.disparity("female", "fpr")
    assert fair is not None and fair.difference is not None
    assert abs(fair.difference) < 4 * math.hypot(_se(0.1, n * 0.45 * 0.4), _se(0.1, n * 0.55 * 0.4))


@pytest.mark.parametrize("reference", ["maj", "min"])
def test_agrees_with_aequitas_audit_on_the_same_frame(reference: str) -> None:
    frame = lending_frame(6_000, groups=UNFAIR_FNR, seed=2)
    frame["sex:race"] = frame["sex"] + ":" + frame["race"]
    audit = Audit(
        frame[["approved", "repaid", "sex", "race", "sex:race"]],
        score_column="approved",
        label_column="repaid",
        sensitive_attribute_column=["sex", "race", "sex:race"],
        reference_groups=reference,
    )
    audit.audit()
    theirs = audit.disparity_df.set_index(["attribute_name", "attribute_value"])
    rule = "majority" if reference == "maj" else "min_disparity"
    ours = _report(
        frame,
        intersections=[["sex", "race"]],
        reference_groups={"sex": rule, "race": rule, "sex:race": rule},
        min_group_size=1,
    )
    pairs = [(a.attribute, g.group) for a in ours.attributes for g in a.groups]
    assert sorted(pairs) == sorted(theirs.index.tolist())
    for attr in ours.attributes:
        for g in attr.groups:
            row = theirs.loc[(attr.attribute, g.group)]
            assert g.size == row["group_size"]
            assert (g.tp, g.fp, g.fn, g.tn) == (row["tp"], row["fp"], row["fn"], row["tn"])
            for metric, col in AEQUITAS_NAMES.items():
                assert g.rate(metric) == pytest.approx(row[col], rel=1e-12)
                if col == "prev":
                    continue  # aequitas has no prevalence disparity
                d = attr.disparity(g.group, metric)
                assert d is not None and d.ratio == pytest.approx(row[f"{col}_disparity"])
                assert d.reference_group == row[f"{col}_ref_group_value"]


def _as_dtype(values: pd.Series, kind: str) -> pd.Series:
    if kind == "categorical":
        return values.astype("category")
    if kind == "int_codes":
        return values.map({"female": 0, "male": 1})
    if kind == "bool":
        return values.eq("female")
    if kind == "nullable_int":
        return values.map({"female": 0, "male": 1}).astype("Int64")
    return values


@pytest.mark.parametrize("kind", ["object", "categorical", "int_codes", "bool", "nullable_int"])
def test_protected_column_of_any_dtype_gives_the_same_groups(kind: str) -> None:
    frame = lending_frame(3_000, seed=3)
    frame.loc[:49, "sex"] = None
    converted = _as_dtype(frame["sex"], kind)
    if kind in ("int_codes", "bool"):  # these dtypes cannot hold None: mark missing afterwards
        converted = converted.astype(object)
        converted[:50] = None
    frame["sex"] = converted
    report = _report(frame)
    sex = report.attribute("sex")
    assert sex is not None
    sizes = sorted(g.size for g in sex.groups)
    truth = lending_frame(3_000, seed=3)["sex"].iloc[50:].value_counts().sort_values()
    assert sizes == sorted([50, *truth.tolist()])
    missing = sex.group(MISSING_GROUP)
    assert missing is not None and missing.size == 50
    if kind in ("int_codes", "nullable_int"):
        assert {g.group for g in sex.groups} == {"0", "1", MISSING_GROUP}


def test_intersection_groups_and_missing_values() -> None:
    frame = lending_frame(4_000, seed=4, race_missing=0.05)
    report = _report(frame, intersections=[["sex", "race"]])
    inter = report.attribute("sex:race")
    assert inter is not None and inter.columns == ("sex", "race")
    expected = frame.assign(race=frame["race"].fillna(MISSING_GROUP))
    counts = expected.groupby(["sex", "race"]).size()
    assert {g.group: g.size for g in inter.groups} == {
        f"{s}:{r}": int(c) for (s, r), c in counts.items()
    }
    assert inter.group(f"female:{MISSING_GROUP}") is not None


def test_one_group_only_gives_unit_ratios() -> None:
    frame = lending_frame(500, seed=5)
    frame["sex"] = "female"
    sex = _report(frame).attribute("sex")
    assert sex is not None and [g.group for g in sex.groups] == ["female"]
    assert all(d.ratio == 1.0 and d.difference == 0.0 for d in sex.disparities)


def test_group_without_positives_or_predicted_positives_is_undefined_not_nan() -> None:
    frame = lending_frame(2_000, seed=6)
    no_pos = frame["race"] == "asian"
    frame.loc[no_pos, "repaid"] = 0
    no_pred = frame["race"] == "black"
    frame.loc[no_pred, "approved"] = 0
    race = _report(frame, reference_groups={"race": "white"}).attribute("race")
    assert race is not None
    asian, black = race.group("asian"), race.group("black")
    assert asian is not None and black is not None
    assert asian.rate("tpr") is None and asian.rate("fnr") is None
    assert "no actual positives" in asian.undefined_reason("tpr")
    assert black.rate("selection_rate") == 0.0 and black.rate("precision") is None
    d = race.disparity("asian", "tpr")
    assert d is not None and d.ratio is None and d.difference is None
    assert "no actual positives" in d.note
    sel = race.disparity("black", "selection_rate")
    assert sel is not None and sel.ratio == 0.0
    text = json.dumps(_report(frame).to_dict(), allow_nan=False)  # no NaN or inf anywhere
    assert "NaN" not in text


def test_zero_reference_rate_ratio_is_explained() -> None:
    frame = lending_frame(2_000, seed=7)
    frame.loc[frame["sex"] == "male", "approved"] = 0
    sex = _report(frame, reference_groups={"sex": "male"}).attribute("sex")
    assert sex is not None
    d = sex.disparity("female", "selection_rate")
    assert d is not None and d.ratio is None and d.difference is not None and d.difference > 0
    assert "ratio undefined" in d.note
    same = sex.disparity("male", "selection_rate")
    assert same is not None and same.ratio == 1.0 and "both rates are 0" in same.note


def test_label_free_mode_computes_selection_rate_only() -> None:
    frame = lending_frame(2_000, seed=8)
    report = compute_fairness(frame[["sex"]], frame["approved"].to_numpy(dtype=bool), None)
    assert not report.labeled and report.metrics == ("selection_rate",)
    assert "label-free" in report.note
    sex = report.attribute("sex")
    assert sex is not None and {d.metric for d in sex.disparities} == {"selection_rate"}
    unlabeled = compute_fairness(
        frame[["sex"]], frame["approved"].to_numpy(dtype=bool), np.full(len(frame), np.nan)
    )
    assert not unlabeled.labeled


def test_partly_labeled_window_uses_labeled_rows_for_label_metrics() -> None:
    frame = lending_frame(3_000, seed=9)
    labels = frame["repaid"].to_numpy(dtype=float)
    labels[::3] = np.nan
    report = compute_fairness(frame[["sex"]], frame["approved"].to_numpy(dtype=bool), labels)
    female = report.attribute("sex").group("female")  # type: ignore[union-attr]
    assert female is not None
    part = frame[(frame["sex"] == "female") & ~np.isnan(labels)]
    hand_fnr = ((part["repaid"] == 1) & (part["approved"] == 0)).sum() / (part["repaid"] == 1).sum()
    assert female.rate("fnr") == pytest.approx(hand_fnr)
    everyone = frame[frame["sex"] == "female"]
    assert female.rate("selection_rate") == pytest.approx(everyone["approved"].mean())


def test_report_round_trips_through_json() -> None:
    report = _report(lending_frame(1_000, seed=10), intersections=[["sex", "race"]])
    restored = FairnessReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert restored == report


def test_every_rate_has_its_own_denominator() -> None:
    g = GroupMetrics("sex", "female", size=100, predicted_positive=40, labeled=90, tp=30, fp=10,
                     fn=20, tn=30)  # fmt: skip
    expected = {
        "selection_rate": 100,
        "prevalence": 90,
        "tpr": 50,
        "fnr": 50,
        "fpr": 40,
        "fdr": 40,
        "precision": 40,
        "for": 50,
        FAVORABLE_RATE: 100,
    }
    assert {m: g.denominator(m) for m in expected} == expected
    assert g.rate(FAVORABLE_RATE) == pytest.approx(0.6)  # negative decisions over every row
    assert denominator_word("fnr") == "positives" and denominator_word("fpr") == "negatives"
    assert denominator_word("precision") == "predicted positives"
    assert g.interval("fnr", level=0.95) == wilson(20, 50, level=0.95)
    empty = GroupMetrics("sex", "x", size=5, predicted_positive=0, labeled=5, tn=5)
    assert empty.interval("precision", level=0.95) is None


def test_disparities_carry_denominators_and_newcombe_and_katz_intervals() -> None:
    frame = lending_frame(3_000, groups=UNFAIR_FNR, seed=15)
    report = _report(frame, reference_groups={"sex": "male"}, level=0.9)
    sex = report.attribute("sex")
    assert sex is not None and report.level == 0.9
    female, male = sex.group("female"), sex.group("male")
    d = sex.disparity("female", "fnr")
    assert female is not None and male is not None and d is not None
    assert (d.denominator, d.reference_denominator) == (female.label_positive, male.label_positive)
    counts = (female.fn, female.label_positive, male.fn, male.label_positive)
    assert d.difference_interval == newcombe(*counts, level=0.9)
    assert d.ratio_interval == katz_log(*counts, level=0.9)
    assert d.difference is not None and d.ratio is not None
    lo, hi = d.difference_interval
    r_lo, r_hi = d.ratio_interval
    assert lo < d.difference < hi and r_hi is not None and r_lo < d.ratio < r_hi
    body = report.to_dict()
    group_row = body["attributes"][0]["groups"][0]  # type: ignore[index]
    assert set(group_row["intervals"]) == set(GROUP_METRICS)  # type: ignore[index]
    assert group_row["denominators"]["fnr"] == group_row["tp"] + group_row["fn"]  # type: ignore[index]


def test_report_written_before_intervals_still_reads() -> None:
    report = _report(lending_frame(800, seed=16))
    body = json.loads(json.dumps(report.to_dict()))
    del body["level"]
    for attr in body["attributes"]:
        for d in attr["disparities"]:
            for key in ("denominator", "reference_denominator", "difference_interval",
                        "ratio_interval"):  # fmt: skip
                del d[key]
    old = FairnessReport.from_dict(body)
    assert old.level == 0.95
    assert old.attributes[0].disparities[0].difference_interval is None


def test_min_disparity_reference_needs_enough_cases_in_the_rate_own_denominator() -> None:
    # group "a" has the lowest FNR but only 5 actual positives: not eligible as the reference
    rows = [("a", 1, 1)] * 5 + [("a", 0, 0)] * 95
    rows += [("b", 1, 1)] * 35 + [("b", 1, 0)] * 15 + [("b", 0, 0)] * 50
    rows += [("c", 1, 1)] * 25 + [("c", 1, 0)] * 25 + [("c", 0, 0)] * 50
    frame = pd.DataFrame(rows, columns=["g", "label", "pred"])
    report = compute_fairness(
        frame[["g"]],
        frame["pred"].to_numpy(dtype=bool),
        frame["label"].to_numpy(dtype=float),
        reference_groups={"g": "min_disparity"},
        min_group_size=30,
    )
    attr = report.attribute("g")
    assert attr is not None
    d = attr.disparity("c", "fnr")
    assert d is not None and d.reference_group == "b"  # a's FNR 0 rests on 5 positives


def test_counts_of_two_halves_merged_equal_the_whole() -> None:
    """Group texts do not depend on the part a value is in: int codes in one half (one of them
    missing, so float) and strings in the other give the same groups as the whole."""
    frame = lending_frame(6_000, seed=8, race_missing=0.05)
    frame["band"] = frame["age_band"].astype(float)
    frame.loc[frame.index[:40], "band"] = np.nan  # the first half's codes are floats
    labels = frame["repaid"].to_numpy(dtype=float)
    labels[::7] = np.nan  # partly labelled

    def counts(part: pd.DataFrame, y: np.ndarray) -> FairnessCounts:
        return FairnessCounts.of(
            part[["sex", "race", "band"]],
            part["approved"].to_numpy(dtype=bool),
            y,
            intersections=[["sex", "race"], ["race", "band"]],
        )

    half = len(frame) // 2
    first, second = frame.iloc[:half], frame.iloc[half:].copy()
    second["band"] = second["band"].astype("Int64").astype(str)  # "3", as text: the same group
    merged = counts(first, labels[:half]).merge(counts(second, labels[half:]))
    whole = counts(frame, labels)
    assert (merged.rows, merged.labeled_rows) == (whole.rows, whole.labeled_rows) == (6_000, 5_142)
    for name in ("sex", "race", "band", "sex:race", "race:band"):
        assert [g.to_dict() for g in merged.groups(name)] == [
            g.to_dict() for g in whole.groups(name)
        ]
    assert {g.group for g in whole.groups("band")} == {"1", "2", "3", MISSING_GROUP}
    assert merged.report(min_group_size=50).to_dict() == whole.report(min_group_size=50).to_dict()
    assert (
        whole.report().to_dict()
        == compute_fairness(
            frame[["sex", "race", "band"]],
            frame["approved"].to_numpy(dtype=bool),
            labels,
            intersections=[["sex", "race"], ["race", "band"]],
        ).to_dict()
    )

"""compute_drift: selection, thresholds, overrides, BH, report, bad input, merged chunks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from scipy import stats
from scipy.spatial import distance

from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.stats.drift import DriftReport, compute_drift
from mlflow_monitor.stats.profile import DatasetProfile
from tests.stats.conftest import CATEGORICAL, NUMERICAL, make_pair


def _profiles(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str] | None = None,
    categorical: list[str] | None = None,
) -> tuple[DatasetProfile, DatasetProfile]:
    num = NUMERICAL if numerical is None else numerical
    cat = CATEGORICAL if categorical is None else categorical
    ref = DatasetProfile.from_frame(reference, numerical=num, categorical=cat)
    cur = DatasetProfile.from_frame(current, numerical=num, categorical=cat, reference=ref)
    return ref, cur


@pytest.mark.parametrize("rows", [300, 1000, 1001, 5000])
def test_auto_selection_is_evidentlys_default_stattest(rows: int) -> None:
    reference, current = make_pair(rows, 0.2)
    report = compute_drift(*_profiles(reference, current))
    for name in NUMERICAL + CATEGORICAL:
        kind = ColumnType.Numerical if name in NUMERICAL else ColumnType.Categorical
        expected = get_stattest(reference[name], current[name], kind, None).name
        assert report.get(name).method == expected, name


def test_no_drift_and_clear_drift_are_told_apart() -> None:
    calm = compute_drift(*_profiles(*make_pair(3000, 0.0)))
    shifted = compute_drift(*_profiles(*make_pair(3000, 0.6)))
    assert calm.number_drifted == 0 and calm.share_drifted == 0.0
    assert shifted.get("normal").drifted and shifted.get("skewed").drifted
    assert shifted.share_drifted >= 0.5
    assert all(c.status == "ok" and c.score is not None for c in shifted.columns)
    assert shifted.get("normal").method == "wasserstein"
    assert shifted.get("normal").threshold == 0.1


def test_default_thresholds_and_decision_rules() -> None:
    report = compute_drift(*_profiles(*make_pair(500, 0.6)))
    ks = report.get("normal")
    assert (ks.method, ks.threshold) == ("ks", 0.05)
    assert ks.score is not None and ks.drifted == (ks.score <= 0.05)
    assert ks.statistic is not None and 0 < ks.statistic <= 1
    assert report.get("city").method == "chisquare" and report.get("city").threshold == 0.05
    assert (report.get("normal").reference_rows, report.get("normal").current_rows) == (500, 500)


def test_per_column_method_and_threshold_override() -> None:
    ref, cur = _profiles(*make_pair(2000, 0.3))
    report = compute_drift(
        ref,
        cur,
        methods={"normal": "psi", "city": "chisquare", "rating": "ks"},
        thresholds={"normal": 10.0, "skewed": 0.0},
    )
    assert report.get("normal").method == "psi"
    assert report.get("normal").threshold == 10.0 and not report.get("normal").drifted
    assert report.get("city").method == "chisquare"
    assert report.get("rating").method == "ks"
    assert report.get("skewed").drifted  # threshold 0: any distance counts


def test_global_method_applies_where_it_fits() -> None:
    report = compute_drift(*_profiles(*make_pair(2000, 0.3)), method="ks")
    assert report.get("normal").method == "ks"
    assert report.get("city").method == "jensenshannon"  # ks needs a numerical column


def test_overrides_that_cannot_work_are_spec_errors() -> None:
    ref, cur = _profiles(*make_pair(200, 0.0))
    with pytest.raises(SpecError, match=r"drift\.methods\.city: method 'ks' needs a numerical"):
        compute_drift(ref, cur, methods={"city": "ks"})
    with pytest.raises(SpecError, match=r"drift\.methods\.normal: method 'z' needs value counts"):
        big_ref, big_cur = _profiles(*make_pair(12_000, 0.0))
        compute_drift(big_ref, big_cur, methods={"normal": "z"})
    with pytest.raises(SpecError, match=r"drift\.methods\.nope: not a monitored column"):
        compute_drift(ref, cur, methods={"nope": "ks"})
    with pytest.raises(SpecError, match="unknown method 'anova'"):
        compute_drift(ref, cur, methods={"normal": "anova"})
    with pytest.raises(SpecError, match=r"drift\.thresholds\.normal"):
        compute_drift(ref, cur, thresholds={"normal": float("nan")})


def test_benjamini_hochberg_adjusted_p_values() -> None:
    report = compute_drift(*_profiles(*make_pair(400, 0.15)))
    tested = [c for c in report.columns if c.method in {"ks", "chisquare", "z"}]
    assert len(tested) == len(report.columns)
    raw = np.array([c.score for c in tested], dtype=float)
    expected = stats.false_discovery_control(raw, method="bh")
    assert [c.p_value_adjusted for c in tested] == pytest.approx(expected.tolist(), rel=1e-12)
    assert all(c.p_value_adjusted is not None and c.p_value_adjusted >= c.score for c in tested)  # type: ignore[operator]
    distances = compute_drift(*_profiles(*make_pair(2000, 0.0)))
    assert all(c.p_value_adjusted is None for c in distances.columns if c.method == "wasserstein")


def test_report_json_round_trip() -> None:
    reference, current = make_pair(300, 0.3)
    current["normal"] = np.nan
    report = compute_drift(*_profiles(reference, current))
    text = json.dumps(report.to_dict(), allow_nan=False)
    restored = DriftReport.from_dict(json.loads(text))
    assert restored == report
    assert json.loads(text)["share_drifted"] == report.share_drifted


@pytest.mark.parametrize("chunk_rows", [700, 2048])
def test_merged_chunk_profiles_give_the_same_drift(chunk_rows: int) -> None:
    reference, current = make_pair(6000, 0.2)
    ref, cur = _profiles(reference, current)
    chunks = (current.iloc[i : i + chunk_rows] for i in range(0, len(current), chunk_rows))
    merged = DatasetProfile.from_chunks(
        chunks, numerical=NUMERICAL, categorical=CATEGORICAL, reference=ref
    )
    for method in ("auto", "psi", "jensenshannon", "ks"):
        whole = compute_drift(ref, cur, method=method)
        parts = compute_drift(ref, merged, method=method)
        for a, b in zip(whole.columns, parts.columns, strict=True):
            assert (a.method, a.drifted, a.current_rows) == (b.method, b.drifted, b.current_rows)
            assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12), (method, a.column)


# --- bad input ----------------------------------------------------------------------------------


def test_empty_window_is_insufficient_data_not_a_pass() -> None:
    reference, current = make_pair(500, 0.0)
    report = compute_drift(*_profiles(reference, current.iloc[:0]))
    assert report.status == "insufficient_data"
    for column in report.columns:
        assert column.status == "insufficient_data"
        assert column.score is None and not column.drifted
        assert "no usable values in the current window: 0 rows" in column.note


def test_all_missing_column_is_insufficient_data_with_counts() -> None:
    reference, current = make_pair(500, 0.0)
    current["normal"] = np.nan
    current["city"] = None
    report = compute_drift(*_profiles(reference, current))
    assert report.get("normal").status == "insufficient_data"
    assert report.get("normal").note.endswith("500 rows, 500 missing, 0 infinite")
    assert report.get("city").status == "insufficient_data"
    assert report.get("skewed").status == "ok"
    assert report.status == "ok" and len(report.evaluated) == 4


def test_infinite_values_are_excluded_and_counted() -> None:
    reference, current = make_pair(800, 0.0)
    current.loc[:99, "normal"] = np.inf
    current.loc[100:109, "normal"] = -np.inf
    column = compute_drift(*_profiles(reference, current)).get("normal")
    assert column.current_rows == 690 and column.status == "ok"
    finite = current["normal"][np.isfinite(current["normal"])]
    assert column.score == pytest.approx(stats.ks_2samp(reference["normal"], finite).pvalue)
    profile = DatasetProfile.from_frame(current, numerical=["normal"], categorical=[])
    assert profile.columns["normal"].infinite == 110  # type: ignore[union-attr]


def test_constant_columns_have_defined_scores() -> None:
    small = pd.DataFrame({"x": np.full(200, 3.0), "c": ["a"] * 200})
    big = pd.DataFrame({"x": np.full(2000, 3.0), "c": ["a"] * 2000})
    report = compute_drift(*_profiles(small, small.copy(), ["x"], ["c"]))
    assert (report.get("x").method, report.get("x").score) == ("z", 1.0)
    assert (report.get("c").method, report.get("c").score) == ("z", 1.0)
    moved = compute_drift(
        *_profiles(big, big.assign(x=3.5), ["x"], ["c"]), methods={"x": "wasserstein"}
    )
    assert moved.get("x").score == pytest.approx(0.5 / 0.001)  # Evidently's norm floor
    assert moved.get("x").drifted
    chi = compute_drift(*_profiles(small, small.copy(), ["x"], ["c"]), method="chisquare")
    assert chi.get("c").score == 1.0 and not chi.get("c").drifted


def test_categories_unseen_in_the_reference_count_as_drift() -> None:
    reference = pd.DataFrame({"c": ["a", "b", "c"] * 100})
    current = pd.DataFrame({"c": ["a", "b", "c"] * 90 + ["new"] * 30})
    report = compute_drift(*_profiles(reference, current, [], ["c"]))
    column = report.get("c")
    assert column.method == "chisquare" and column.score == 0.0 and column.drifted
    assert "30 current rows in values unseen in the reference" in column.note
    js = compute_drift(*_profiles(reference, current, [], ["c"]), methods={"c": "jensenshannon"})
    expected = stats.entropy  # JS from its definition on the aligned shares
    p, q = np.array([1, 1, 1, 0]) / 3, np.array([90, 90, 90, 30]) / 300
    m = (p + q) / 2
    assert js.get("c").score == pytest.approx(np.sqrt((expected(p, m) + expected(q, m)) / 2))


def test_single_class_target() -> None:
    reference = pd.DataFrame({"target": ["no"] * 300})
    same = compute_drift(*_profiles(reference, reference.copy(), [], ["target"])).get("target")
    assert (same.method, same.score, same.drifted) == ("z", 1.0, False)
    flipped = pd.DataFrame({"target": ["yes"] * 300})
    moved = compute_drift(*_profiles(reference, flipped, [], ["target"])).get("target")
    assert moved.method == "z" and moved.score is not None and moved.score < 1e-12 and moved.drifted


def test_columns_missing_from_a_profile_are_named() -> None:
    reference, current = make_pair(100, 0.0)
    ref, cur = _profiles(reference, current)
    with pytest.raises(DataError, match="column 'ghost' is not in the reference profile"):
        compute_drift(ref, cur, ["ghost"])


# --- significant and large: min_effect ----------------------------------------------------------


def _normal_pair(rows: int, shift: float, seed: int = 31) -> tuple[DatasetProfile, DatasetProfile]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({"x": rng.normal(0, 1, rows)})
    current = pd.DataFrame({"x": rng.normal(shift, 1, rows)})
    return _profiles(reference, current, ["x"], [])


def test_ks_tiny_significant_shift_on_200000_rows_is_not_drift_at_the_default_min_effect() -> None:
    tiny = _normal_pair(200_000, 0.03)  # 0.03 standard deviations: D ~ 0.012
    plain = compute_drift(*tiny, methods={"x": "ks"}).get("x")
    assert plain.score is not None and plain.score < 1e-6 and plain.drifted  # Evidently's rule
    floored = compute_drift(*tiny, methods={"x": "ks"}, min_effect=0.1).get("x")
    assert floored.score == plain.score and floored.significant
    assert floored.effect is not None and floored.effect < 0.02
    assert (floored.effect_name, floored.min_effect, floored.drifted) == (
        "ks_statistic",
        0.1,
        False,
    )
    large = compute_drift(*_normal_pair(200_000, 0.5), methods={"x": "ks"}, min_effect=0.1)
    assert large.get("x").drifted and large.get("x").effect > 0.15  # type: ignore[operator]


def test_ks_effect_is_the_statistic_and_round_trips() -> None:
    reference, current = make_pair(500, 0.6)
    report = compute_drift(*_profiles(reference, current), min_effect=0.1)
    ks = report.get("normal")
    assert ks.method == "ks" and ks.effect == ks.statistic
    assert ks.effect == pytest.approx(
        stats.ks_2samp(reference["normal"], current["normal"]).statistic
    )
    assert DriftReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_chisquare_effect_is_the_jensen_shannon_distance_z_the_difference_of_shares() -> None:
    reference = pd.DataFrame({"c": ["a"] * 300 + ["b"] * 300 + ["c"] * 400, "f": ["y"] * 1000})
    current = pd.DataFrame(
        {"c": ["a"] * 330 + ["b"] * 300 + ["c"] * 370, "f": ["y"] * 960 + ["n"] * 40}
    )
    report = compute_drift(*_profiles(reference, current, [], ["c", "f"]), min_effect=0.1)
    chi, z = report.get("c"), report.get("f")
    assert (chi.method, chi.effect_name, z.method, z.effect_name) == (
        "chisquare", "jensenshannon", "z", "proportion_difference",
    )  # fmt: skip
    shares = np.array([[0.3, 0.3, 0.4], [0.33, 0.3, 0.37]])
    assert chi.effect == pytest.approx(distance.jensenshannon(shares[0], shares[1]))
    assert z.effect == pytest.approx(0.04)
    assert z.significant and not z.drifted  # p ~ 1e-10, but 4 points of share is below 0.1
    unchanged = compute_drift(
        *_profiles(reference, current, [], ["c", "f"]), method="jensenshannon"
    )
    assert unchanged.get("c").effect is None and unchanged.get("c").effect_name == ""


def test_negative_min_effect_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"drift\.min_effect"):
        compute_drift(*_normal_pair(100, 0.0), min_effect=-0.1)

"""Baseline: built from a frame or by chunks, seeded sample, round trip, reference outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.adapters.baseline_files import load_baseline, save_baseline
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.stats.performance import compute_performance
from mlflow_monitor.stats.profile import CategoricalProfile, NumericProfile
from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
from mlflow_monitor.workflows import demo
from mlflow_monitor.workflows.build_baseline import (
    build_baseline,
    check_metric_names,
    report_reference_outcomes,
)
from tests.fixtures.lending import FAIR, UNFAIR_FNR, lending_frame, lending_spec


def _spec(baseline_rows: int = 100_000) -> MonitorSpec:
    import yaml

    body = yaml.safe_load(demo.CHURN_SPEC.format(model="churn"))
    body["sampling"]["baseline_rows"] = baseline_rows
    return parse_spec(body)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    """Scored reference rows; a fixed linear score keeps the test free of model training."""
    frame = demo.make_churn(3000, seed=7)
    score = 1 / (1 + np.exp(-(0.03 * frame["monthly_charges"] - 0.05 * frame["tenure_months"])))
    frame["churn_score"] = score
    frame["prediction"] = (score >= 0.5).astype(np.int64)
    return frame


def test_profile_covers_features_outputs_and_target(reference: pd.DataFrame) -> None:
    baseline = build_baseline_from_frame(_spec(), reference)
    columns = baseline.profile.columns
    assert isinstance(columns["monthly_charges"], NumericProfile)
    assert isinstance(columns["churn_score"], NumericProfile)
    assert isinstance(columns["prediction"], CategoricalProfile)
    assert isinstance(columns["churned"], CategoricalProfile)
    assert baseline.rows == baseline.profile.rows == 3000


def test_reference_performance_equals_the_stats_core(reference: pd.DataFrame) -> None:
    baseline = build_baseline_from_frame(_spec(), reference)
    expected = compute_performance(
        "binary_classification",
        reference["churned"],
        reference["prediction"],
        y_score=reference["churn_score"],
        positive_label=1,
    )
    assert baseline.performance is not None
    assert baseline.performance.metrics == expected.metrics


def test_sample_is_bounded_and_seeded(reference: pd.DataFrame) -> None:
    first = build_baseline_from_frame(_spec(baseline_rows=500), reference)
    again = build_baseline_from_frame(_spec(baseline_rows=500), reference)
    assert len(first.sample) == 500
    assert first.sample["customer_id"].tolist() == again.sample["customer_id"].tolist()
    assert first.sample["customer_id"].is_unique


def test_save_and_load_round_trip(reference: pd.DataFrame, tmp_path: Path) -> None:
    baseline = build_baseline_from_frame(_spec(), reference)
    loaded = load_baseline(save_baseline(baseline, tmp_path / "b"))
    assert loaded.profile.to_dict() == baseline.profile.to_dict()
    assert loaded.performance == baseline.performance
    assert loaded.segments is not None and baseline.segments is not None
    assert loaded.segments.to_dict() == baseline.segments.to_dict()
    pd.testing.assert_frame_equal(loaded.sample, baseline.sample)
    assert loaded.spec == _spec()
    json.loads((tmp_path / "b" / "baseline.json").read_text())  # strict JSON (no NaN)


def test_chunked_build_matches_the_whole_frame(reference: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "reference.parquet"
    reference.to_parquet(path, index=False)
    whole = build_baseline_from_frame(_spec(), reference)
    chunked = build_baseline(_spec(baseline_rows=800), path, chunk_rows=700)
    assert chunked.rows == 3000
    assert len(chunked.sample) == 800
    assert set(chunked.sample["customer_id"]) <= set(reference["customer_id"])
    for name in ("contract", "region", "churned"):
        mine, full = chunked.profile.columns[name], whole.profile.columns[name]
        assert isinstance(mine, CategoricalProfile) and isinstance(full, CategoricalProfile)
        assert mine.as_series().sort_index().equals(full.as_series().sort_index())
    charges, full_charges = (
        chunked.profile.columns["monthly_charges"],
        whole.profile.columns["monthly_charges"],
    )
    assert isinstance(charges, NumericProfile) and isinstance(full_charges, NumericProfile)
    assert charges.moments.count == full_charges.moments.count == 3000
    assert charges.moments.mean == pytest.approx(full_charges.moments.mean, rel=1e-12)
    assert charges.histogram.counts.sum() == 3000
    assert chunked.notes and "sample of 800 of 3000 rows" in chunked.notes[0]


def test_empty_reference_is_an_error(reference: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="the reference is empty"):
        build_baseline_from_frame(_spec(), reference.iloc[0:0])


def test_segments_follow_the_decision_threshold_of_overall_and_group_metrics(
    reference: pd.DataFrame,
) -> None:
    """One decision rule: score-only rows are thresholded at ``decision_threshold`` everywhere."""
    body = yaml.safe_load(demo.CHURN_SPEC.format(model="churn"))
    body["columns"].pop("prediction")
    body["fairness"] = {**body.get("fairness", {}), "decision_threshold": 0.7}
    spec = parse_spec(body)
    frame = reference.drop(columns=["prediction"])
    baseline = build_baseline_from_frame(spec, frame)
    assert baseline.segments is not None and baseline.segments.roles.threshold == 0.7
    north = frame[frame["region"] == "north"]
    expected = compute_performance(
        "binary_classification", north["churned"], None, y_score=north["churn_score"], threshold=0.7
    ).metrics["precision"]
    segment = baseline.segments.get("region", "north")
    assert segment is not None
    assert segment.performance.metrics["precision"] == pytest.approx(expected)
    overall = compute_performance(
        "binary_classification", frame["churned"], None, y_score=frame["churn_score"], threshold=0.7
    )
    assert baseline.performance is not None
    assert baseline.performance.metrics["precision"] == pytest.approx(overall.metrics["precision"])


def test_columns_that_collide_as_metric_names_are_refused_at_baseline() -> None:
    check_metric_names(["age", "../x", "region"])  # unusual but distinct: accepted
    with pytest.raises(SpecError, match="'a=b' and 'a_b' would be logged"):
        check_metric_names(["a=b", "a_b"])


def test_reference_policy_breaches_are_stored_on_the_baseline(tmp_path: Path) -> None:
    spec = lending_spec(policies=["equal_opportunity"], reference_groups={"sex": "male"})
    baseline = build_baseline_from_frame(spec, lending_frame(6_000, groups=UNFAIR_FNR, seed=51))
    firing = baseline.firing_reference_outcomes
    ids = {o.check_id for o in firing}
    assert "policy/equal_opportunity/fnr_difference/sex=female" in ids
    assert all(o.kind == "policy" and o.interval is not None for o in firing)
    assert len(baseline.reference_outcomes) > len(firing)  # passing rows are kept too
    loaded = load_baseline(save_baseline(baseline, tmp_path / "b"))
    assert [o.to_dict() for o in loaded.reference_outcomes] == [
        o.to_dict() for o in baseline.reference_outcomes
    ]
    lines: list[str] = []
    report_reference_outcomes(loaded, lines.append)
    assert lines[0].startswith("[baseline] reference already breaks: fnr_difference sex=")
    assert len(lines) == len(firing) + 1
    assert lines[-1] == (
        f"[baseline] {len(firing)} of {len(baseline.reference_outcomes)} policy checks"
        " already fire on the reference"
    )


def test_fair_reference_and_baselines_written_before_reference_outcomes(
    reference: pd.DataFrame, tmp_path: Path
) -> None:
    spec = lending_spec(policies=["equal_opportunity"])
    fair = build_baseline_from_frame(spec, lending_frame(6_000, groups=FAIR, seed=52))
    assert fair.reference_outcomes and not fair.firing_reference_outcomes
    lines: list[str] = []
    report_reference_outcomes(fair, lines.append)
    assert lines == []
    folder = save_baseline(build_baseline_from_frame(_spec(), reference), tmp_path / "b")
    body = json.loads((folder / "baseline.json").read_text())
    del body["reference_outcomes"]
    (folder / "baseline.json").write_text(json.dumps(body))
    assert load_baseline(folder).reference_outcomes == ()


def test_flipped_positive_label_is_refused_when_the_baseline_is_built() -> None:
    frame = lending_frame(1_000, seed=53)
    spec = lending_spec().model_copy(update={"positive_label": 0})  # score: P(repaid == 1)
    with pytest.raises(SpecError, match=r"positive_label 0 .*fairness.decision_threshold"):
        build_baseline_from_frame(spec, frame)
    no_protected = spec.model_copy(
        update={"columns": spec.columns.model_copy(update={"protected": []})}
    )
    with pytest.raises(SpecError, match=r"columns.score 'score'"):
        build_baseline_from_frame(no_protected, frame)

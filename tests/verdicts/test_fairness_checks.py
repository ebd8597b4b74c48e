"""Fairness checks: policy rules against hand computations, bias drift, health, edge cases."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mlflow_monitor.contract import health
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.verdicts.fairness_checks import (
    FairnessEvaluation,
    RuleResult,
    evaluate_fairness,
    reference_fairness,
)
from tests.fixtures.lending import FAIR, RACES, UNFAIR_FNR, GroupRates, lending_frame, lending_spec

ALL_PACKS = ["four_fifths_rule", "nyc_ll144_bias_audit", "equal_opportunity", "equalized_odds"]


def _rule(evaluation: FairnessEvaluation, pack: str, rule_id: str) -> RuleResult:
    return next(r for r in evaluation.policies if r.pack == pack and r.rule.id == rule_id)


def _hand_impact_ratios(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Selection rate and impact ratio (rate / highest rate) per category, in plain pandas."""
    key = frame[by].fillna("(missing)").astype(str).agg(":".join, axis=1)
    table = frame.assign(category=key).groupby("category")["approved"].agg(["size", "mean"])
    table["impact_ratio"] = table["mean"] / table["mean"].max()
    return table


def test_four_fifths_table_matches_a_hand_computation() -> None:
    skewed = {
        "female": GroupRates(0.45, 0.6, 0.45, 0.05),
        "male": GroupRates(0.55, 0.6, 0.15, 0.10),
    }
    frame = lending_frame(8_000, groups=skewed, seed=21)
    spec = lending_spec(policies=["four_fifths_rule"])
    evaluation = evaluate_fairness(spec, None, frame)
    result = _rule(evaluation, "four_fifths_rule", "selection_rate_impact_ratio")
    for attribute, by in (("sex", ["sex"]), ("race", ["race"]), ("sex:race", ["sex", "race"])):
        hand = _hand_impact_ratios(frame, by)
        rows = {r.group: r for r in result.rows if r.attribute == attribute}
        assert set(rows) == set(hand.index)
        for category, line in hand.iterrows():
            row = rows[str(category)]
            assert row.size == line["size"]
            assert row.rate == pytest.approx(line["mean"])
            assert row.value == pytest.approx(line["impact_ratio"])
            assert row.status == ("fail" if line["impact_ratio"] < 0.8 else "pass")
    female = next(o for o in evaluation.outcomes if o.check_id.endswith("/sex=female"))
    assert female.check_id == "policy/four_fifths_rule/selection_rate_impact_ratio/sex=female"
    assert female.status == "fail" and female.threshold is not None
    assert female.threshold.source == "policy:four_fifths_rule" and female.threshold.lower == 0.8
    assert health(evaluation.outcomes) == "critical"


def test_ll144_tables_per_category_and_intersection_match_a_hand_computation() -> None:
    frame = lending_frame(6_000, groups=UNFAIR_FNR, seed=22, race_missing=0.03)
    spec = lending_spec(policies=["nyc_ll144_bias_audit"], min_group_size=1)
    evaluation = evaluate_fairness(spec, None, frame)
    single = _rule(evaluation, "nyc_ll144_bias_audit", "impact_ratio_per_category")
    inter = _rule(evaluation, "nyc_ll144_bias_audit", "impact_ratio_intersectional")
    assert {r.attribute for r in single.rows} == {"sex", "race"}
    assert {r.attribute for r in inter.rows} == {"sex:race"}
    for result, attribute, by in (
        (single, "sex", ["sex"]),
        (single, "race", ["race"]),
        (inter, "sex:race", ["sex", "race"]),
    ):
        hand = _hand_impact_ratios(frame, by)
        ours = pd.DataFrame(
            [(r.group, r.size, r.rate, r.value) for r in result.rows if r.attribute == attribute],
            columns=["category", "size", "mean", "impact_ratio"],
        ).set_index("category")
        pd.testing.assert_frame_equal(ours.sort_index(), hand.sort_index(), check_dtype=False)
    assert "(missing)" in {r.group for r in single.rows}


def test_window_crossing_the_fnr_difference_policy_is_critical() -> None:
    spec = lending_spec(policies=["equal_opportunity"], reference_groups={"sex": "male"})
    reference = reference_fairness(spec, lending_frame(10_000, groups=FAIR, seed=23))
    fair = evaluate_fairness(spec, reference, lending_frame(10_000, groups=FAIR, seed=24))
    unfair = evaluate_fairness(spec, reference, lending_frame(10_000, groups=UNFAIR_FNR, seed=25))
    assert health(fair.outcomes) == "healthy"
    assert health(unfair.outcomes) == "critical"
    failing = [o for o in unfair.outcomes if o.status == "fail"]
    prefix = "policy/equal_opportunity/fnr_difference/"
    failed = {o.check_id.removeprefix(prefix) for o in failing if o.kind == "policy"}
    # the female group and every female cell of sex:race; no race group (race is independent)
    assert failed == {"sex=female"} | {f"sex:race=female:{r}" for r in RACES}
    outcome = next(o for o in failing if o.check_id == prefix + "sex=female")
    assert outcome.value is not None and outcome.value > 0.1
    assert outcome.evidence["reference_group"] == "male"


def test_bias_drift_outcomes_flag_the_changed_group() -> None:
    spec = lending_spec(drift_severity="critical")
    reference = reference_fairness(spec, lending_frame(20_000, groups=FAIR, seed=26))
    evaluation = evaluate_fairness(
        spec, reference, lending_frame(20_000, groups=UNFAIR_FNR, seed=27)
    )
    drift = {o.check_id: o for o in evaluation.outcomes if o.kind == "bias_drift"}
    changed = drift["bias_drift/sex=female/fnr"]
    assert changed.status == "fail" and changed.value is not None and changed.value > 0.1
    assert changed.evidence["baseline_n"] and changed.evidence["current_n"]
    assert drift["bias_drift/sex=male/fnr"].status == "pass"
    assert drift["bias_drift/sex=male/fpr"].status == "pass"


def test_label_free_window_judges_selection_rates_only() -> None:
    spec = lending_spec(policies=ALL_PACKS)
    frame = lending_frame(5_000, groups=UNFAIR_FNR, seed=28).drop(columns=["repaid"])
    evaluation = evaluate_fairness(spec, None, frame)
    assert not evaluation.report.labeled
    labels = next(o for o in evaluation.outcomes if o.check_id == "fairness/labels")
    assert labels.status == "not_evaluated" and "no labels" in labels.message
    eo = _rule(evaluation, "equal_opportunity", "fnr_difference")
    assert eo.status == "not_evaluated" and "no labels" in eo.rows[0].note
    prefix = "policy/equal_opportunity/fnr_difference/"
    unjudged = [o for o in evaluation.outcomes if o.check_id.startswith(prefix)]
    assert unjudged and {o.status for o in unjudged} == {"not_evaluated"}
    assert all(o.evidence["reason"] == "no labels in the window" for o in unjudged)
    assert all("not evaluated, no labels" in o.message for o in unjudged)
    four_fifths = _rule(evaluation, "four_fifths_rule", "selection_rate_impact_ratio")
    assert four_fifths.status in ("pass", "fail")
    assert all(
        m.name.endswith(("/size", "selection_rate", "_ratio", "_difference"))
        for m in evaluation.metrics
    )


def test_small_groups_are_insufficient_data_with_their_count() -> None:
    frame = lending_frame(3_000, seed=29)
    frame.loc[:9, "race"] = "pacific"
    spec = lending_spec(policies=["four_fifths_rule"], min_group_size=30)
    evaluation = evaluate_fairness(spec, None, frame)
    small = next(o for o in evaluation.outcomes if o.check_id == "fairness/race=pacific/group_size")
    assert small.status == "insufficient_data" and small.value == 10.0
    policy = next(
        o
        for o in evaluation.outcomes
        if o.check_id == "policy/four_fifths_rule/selection_rate_impact_ratio/race=pacific"
    )
    assert policy.status == "insufficient_data" and "10 rows" in policy.message


def test_decision_threshold_binarizes_the_score_and_is_reported() -> None:
    frame = lending_frame(2_000, seed=30)
    at_half = evaluate_fairness(lending_spec(), None, frame)
    strict = evaluate_fairness(lending_spec(decision_threshold=0.9), None, frame)
    data = json.loads(json.dumps(strict.to_dict(), allow_nan=False))
    assert data["decision_threshold"] == 0.9 and data["decision"]["source"] == "score"
    sel = {
        e.decision_threshold: e.report.attribute("sex").group("male").rate("selection_rate")  # type: ignore[union-attr]
        for e in (at_half, strict)
    }
    male = frame[frame["sex"] == "male"]
    assert sel[0.5] == pytest.approx((male["score"] >= 0.5).mean())
    assert sel[0.9] == pytest.approx((male["score"] >= 0.9).mean())
    no_score = evaluate_fairness(lending_spec(with_score=False), None, frame)
    assert no_score.decision.source == "prediction" and no_score.decision_threshold is None


def test_metrics_follow_the_contract_names() -> None:
    evaluation = evaluate_fairness(lending_spec(), None, lending_frame(2_000, seed=31))
    names = {m.name for m in evaluation.metrics}
    assert "fairness/sex=female/fnr" in names
    assert "fairness/sex:race=female:white/selection_rate" in names
    assert "fairness/race=black/selection_rate_ratio" in names
    assert all(m.value == m.value for m in evaluation.metrics)  # no NaN


def test_named_reference_group_missing_from_reference_data_is_a_spec_error() -> None:
    spec = lending_spec(reference_groups={"sex": "femal"})
    with pytest.raises(SpecError, match=r"fairness.reference_groups.sex: group 'femal'"):
        reference_fairness(spec, lending_frame(500, seed=32))


def test_missing_protected_column_and_non_binary_target_are_data_errors() -> None:
    frame = lending_frame(500, seed=33)
    with pytest.raises(DataError, match=r"column 'race' \(columns.protected\) is missing"):
        evaluate_fairness(lending_spec(), None, frame.drop(columns=["race"]))
    spec = lending_spec().model_copy(update={"positive_label": None})
    frame["repaid"] = frame["repaid"].map({0: "no", 1: "yes"})
    with pytest.raises(DataError, match=r"columns.target 'repaid': values are not 0/1"):
        evaluate_fairness(spec, None, frame)


def test_no_protected_attribute_means_no_reference() -> None:
    spec = lending_spec().model_copy(
        update={"columns": lending_spec().columns.model_copy(update={"protected": []})}
    )
    assert reference_fairness(spec, lending_frame(200, seed=34)) is None


def test_rows_without_a_score_are_excluded_and_counted() -> None:
    frame = lending_frame(1_000, seed=35)
    frame.loc[:24, "score"] = float("nan")
    evaluation = evaluate_fairness(lending_spec(), None, frame)
    assert evaluation.decision.excluded_rows == 25 and evaluation.report.rows == 975

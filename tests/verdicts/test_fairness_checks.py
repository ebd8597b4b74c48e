"""Fairness checks: policy rules against hand computations, bias drift, health, edge cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.contract import CheckOutcome, health
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.stats.intervals import newcombe
from mlflow_monitor.verdicts.fairness_checks import (
    FairnessEvaluation,
    RuleResult,
    evaluate_fairness,
    policy_outcomes,
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
            if row.group == row.reference_group:
                assert row.status == "pass" and row.interval is None  # the highest rate itself
                continue
            assert row.interval is not None and row.interval.method == "katz_log"
            assert row.interval.high is not None
            if line["impact_ratio"] >= 0.8:
                assert row.status == "pass"
            elif row.interval.high < 0.8:
                assert row.status == "fail"  # the whole interval lies below the line
            else:
                assert row.status in ("warn", "insufficient_data")
    female = next(o for o in evaluation.outcomes if o.check_id.endswith("/sex=female"))
    assert female.check_id == "policy/four_fifths_rule/selection_rate_impact_ratio/sex=female"
    assert female.status == "fail" and female.threshold is not None
    assert female.interval is not None and female.interval.high is not None
    assert female.interval.high < 0.8 and female.evidence["rate_used"] == "selection_rate"
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
    assert changed.status == "fail" and changed.metric == "fnr"
    assert changed.value is not None and changed.baseline is not None
    assert changed.value - changed.baseline > 0.1  # FNR 0.15 -> 0.30
    assert changed.evidence["baseline_n"] and changed.evidence["current_n"]
    interval = changed.interval
    assert interval is not None and interval.method == "newcombe"
    assert interval.low is not None and interval.high is not None
    assert 0.0 < interval.low < changed.value - changed.baseline < interval.high
    assert (interval.denominator, interval.reference_denominator) == (
        changed.evidence["current_n"],
        changed.evidence["baseline_n"],
    )
    band = changed.threshold
    assert band is not None and band.source == "baseline" and "z-test" in band.note
    assert band.lower == pytest.approx(changed.baseline - 0.05)
    assert band.upper == pytest.approx(changed.baseline + 0.05)
    assert changed.message.startswith(
        f"sex=female fnr {changed.value:.2f} vs baseline {changed.baseline:.2f} (change +0."
    )
    assert "95% interval [" in changed.message and "; BH p=" in changed.message
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
    assert four_fifths.status in ("pass", "warn", "fail")
    judged = [r for r in four_fifths.rows if r.group != r.reference_group]
    assert judged and all(r.interval is not None for r in judged)
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
    assert policy.evidence["denominator"] == 10


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


# ---------------------------------------------------------------- judged on evidence


def _counts_frame(cells: dict[str, dict[tuple[int, int], int]]) -> pd.DataFrame:
    """Rows from counts: group -> {(label, decision): rows}."""
    parts = [
        pd.DataFrame({"race": [group] * n, "label": [label] * n, "pred": [decision] * n})
        for group, table in cells.items()
        for (label, decision), n in table.items()
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame["score"] = np.where(frame["pred"] == 1, 0.8, 0.2)
    return frame


def _race_spec(*, score: bool = False, label: object = 1, **fairness: object) -> MonitorSpec:
    columns: dict[str, object] = {"target": "label", "prediction": "pred", "protected": ["race"]}
    if score:
        columns["score"] = "score"
    body = {
        "model": "m",
        "task": "binary_classification",
        "positive_label": label,
        "columns": columns,
        "fairness": fairness,
    }
    return parse_spec(body, source="test spec")


def _outcome(evaluation: FairnessEvaluation, check_id: str) -> CheckOutcome:
    return next(o for o in evaluation.outcomes if o.check_id == check_id)


def test_straddling_interval_warns_with_value_interval_and_denominators() -> None:
    frame = _counts_frame(
        {
            "Black": {(1, 0): 126, (1, 1): 174, (0, 0): 270, (0, 1): 30},
            "White": {(1, 0): 283, (1, 1): 629, (0, 0): 900, (0, 1): 100},
        }
    )
    evaluation = evaluate_fairness(_race_spec(policies=["equal_opportunity"]), None, frame)
    outcome = _outcome(evaluation, "policy/equal_opportunity/fnr_difference/race=Black")
    assert outcome.status == "warn"  # |d| 0.11 > 0.1, but the interval reaches below 0.1
    assert outcome.message == (
        "fnr_difference race=Black: FNR 0.42 (n=300 positives) vs 0.31 (n=912) for White,"
        " |difference| 0.11, 95% interval [0.05, 0.17] straddles the line <= 0.1: warning"
    )
    assert outcome.interval is not None and outcome.interval.method == "newcombe"
    low, high = newcombe(126, 300, 283, 912, level=0.95)
    assert (outcome.interval.low, outcome.interval.high) == pytest.approx((low, high))
    assert (outcome.evidence["denominator"], outcome.evidence["reference_denominator"]) == (
        300,
        912,
    )
    assert health(evaluation.outcomes) == "warning"  # a critical rule, but not on evidence
    assert outcome.severity == "warning"  # routed to warning channels, never the critical pager


def test_abs_difference_interval_is_the_mirror_of_newcombe_when_the_gap_is_negative() -> None:
    frame = _counts_frame(
        {
            "Asian": {(1, 0): 20, (1, 1): 380, (0, 0): 400},  # FNR 0.05
            "White": {(1, 0): 300, (1, 1): 700, (0, 0): 1000},  # FNR 0.30
        }
    )
    evaluation = evaluate_fairness(_race_spec(policies=["equal_opportunity"]), None, frame)
    outcome = _outcome(evaluation, "policy/equal_opportunity/fnr_difference/race=Asian")
    low, high = newcombe(20, 400, 300, 1000, level=0.95)
    assert high < 0 and outcome.interval is not None
    assert (outcome.interval.low, outcome.interval.high) == pytest.approx((-high, -low))
    assert outcome.status == "fail" and "lies beyond the line <= 0.1: fail" in outcome.message


@pytest.mark.parametrize("min_group_size", [1, 30])
def test_small_groups_never_fail(min_group_size: int) -> None:
    # FPR 0.0 (one actual negative) against 1.0 (one actual negative); selection 0/3 vs 3/4
    frame = _counts_frame(
        {
            "a": {(0, 0): 1, (1, 0): 2},
            "b": {(0, 1): 1, (1, 1): 2, (1, 0): 1},  # the majority: the reference group
        }
    )
    spec = _race_spec(policies=ALL_PACKS, min_group_size=min_group_size)
    evaluation = evaluate_fairness(spec, None, frame)
    policy = [o for o in evaluation.outcomes if o.kind == "policy"]
    assert policy and all(o.status in ("pass", "warn", "insufficient_data") for o in policy)
    fpr = _outcome(evaluation, "policy/equalized_odds/fpr_difference/race=a")
    assert fpr.status == "insufficient_data" and fpr.evidence["denominator"] == 1
    if min_group_size == 1:
        assert "also includes 0 (no gap): insufficient data" in fpr.message
    else:
        assert "FPR rests on 1 negatives < minimum 30" in fpr.message
    assert health(evaluation.outcomes) == "healthy"


def test_minimum_applies_to_the_rate_own_denominator_not_to_group_rows() -> None:
    # 400 rows in group "x" but only 12 actual positives: its FNR is not judged; FPR is.
    frame = _counts_frame(
        {
            "x": {(1, 0): 6, (1, 1): 6, (0, 0): 380, (0, 1): 8},
            "y": {(1, 0): 100, (1, 1): 400, (0, 0): 450, (0, 1): 50},
        }
    )
    spec = _race_spec(policies=["equalized_odds"], min_group_size=30)
    evaluation = evaluate_fairness(spec, None, frame)
    fnr = _outcome(evaluation, "policy/equalized_odds/fnr_difference/race=x")
    fpr = _outcome(evaluation, "policy/equalized_odds/fpr_difference/race=x")
    assert fnr.status == "insufficient_data" and "FNR rests on 12 positives < minimum 30" in (
        fnr.message
    )
    assert fpr.status != "insufficient_data" and fpr.evidence["denominator"] == 388
    assert not any(o.check_id == "fairness/race=x/group_size" for o in evaluation.outcomes)


def _risk_frame() -> pd.DataFrame:
    """A risk score: positive = flagged high-risk (adverse). Group "a" is flagged 60%, "b" 20%."""
    return _counts_frame(
        {
            "a": {(1, 1): 300, (0, 1): 300, (0, 0): 400},
            "b": {(1, 1): 100, (0, 1): 100, (0, 0): 800},
        }
    )


def test_adverse_positive_decision_names_the_most_flagged_group() -> None:
    packs = ["four_fifths_rule", "nyc_ll144_bias_audit"]
    favourable = evaluate_fairness(
        _race_spec(policies=packs, favorable_outcome="negative"), None, _risk_frame()
    )
    flagged = _outcome(favourable, "policy/four_fifths_rule/selection_rate_impact_ratio/race=a")
    spared = _outcome(favourable, "policy/four_fifths_rule/selection_rate_impact_ratio/race=b")
    assert flagged.status == "fail" and spared.status == "pass"
    assert flagged.value == pytest.approx(0.4 / 0.8)  # favourable rates 0.4 and 0.8
    assert flagged.evidence["rate_used"] == "favorable_rate"
    assert flagged.metric == "favorable_rate_ratio"
    assert "favourable rate 0.40 (n=1,000 rows) vs 0.80" in flagged.message
    ll144 = _rule(favourable, "nyc_ll144_bias_audit", "impact_ratio_per_category")
    assert {r.group: r.status for r in ll144.rows} == {"a": "warn", "b": "pass"}
    assert {r.rate_used for r in ll144.rows} == {"favorable_rate"}
    # read as if a flag were good news, the rule would blame the group flagged least
    naive = evaluate_fairness(_race_spec(policies=packs), None, _risk_frame())
    wrong = _outcome(naive, "policy/four_fifths_rule/selection_rate_impact_ratio/race=b")
    assert wrong.status == "fail" and wrong.evidence["rate_used"] == "selection_rate"


def test_flipped_positive_label_against_the_score_is_a_spec_error_on_both_paths() -> None:
    frame = _counts_frame({"a": {(1, 1): 300, (0, 0): 300}, "b": {(1, 1): 200, (0, 0): 200}})
    frame["label"] = frame["label"].map({1: "high", 0: "low"})
    frame["pred"] = frame["pred"].map({1: "high", 0: "low"})  # score: probability of "high"
    right = _race_spec(score=True, label="high", policies=["four_fifths_rule"])
    assert evaluate_fairness(right, None, frame).decision.agreement == 1.0
    flipped = _race_spec(score=True, label="low")
    pattern = r"positive_label 'low'.*columns.score 'score'.*fairness.decision_threshold"
    with pytest.raises(SpecError, match=pattern):
        reference_fairness(flipped, frame)
    with pytest.raises(SpecError, match=pattern):
        evaluate_fairness(flipped, None, frame)


def test_policy_outcomes_on_a_reference_report() -> None:
    spec = lending_spec(policies=["equal_opportunity"], reference_groups={"sex": "male"})
    reference = reference_fairness(spec, lending_frame(10_000, groups=UNFAIR_FNR, seed=36))
    assert reference is not None
    outcomes = policy_outcomes(spec, reference)
    female = next(o for o in outcomes if o.check_id.endswith("fnr_difference/sex=female"))
    assert female.status == "fail" and female.interval is not None
    assert json.loads(json.dumps([o.to_dict() for o in outcomes], allow_nan=False))


def test_partial_agreement_of_score_and_prediction_is_a_note_not_an_error() -> None:
    frame = lending_frame(4_000, seed=37)  # predictions made at 0.5, audited at 0.7
    evaluation = evaluate_fairness(lending_spec(decision_threshold=0.7), None, frame)
    decision = evaluation.decision
    approved = frame["approved"] == 1
    expected = 1 - (approved & (frame["score"] < 0.7)).mean()
    assert decision.agreement == pytest.approx(expected) and 0.5 < expected < 0.9
    assert "agrees with the prediction column on" in decision.note
    assert evaluate_fairness(lending_spec(), None, frame).decision.note == ""


def test_bias_drift_message_shows_both_rates_the_change_its_interval_and_counts() -> None:
    spec = _race_spec()
    reference = reference_fairness(
        spec, _counts_frame({"a": {(1, 1): 1_528, (0, 0): 2_000, (1, 0): 492}})
    )
    window = _counts_frame({"a": {(1, 1): 252, (0, 0): 400, (1, 0): 160}})
    evaluation = evaluate_fairness(spec, reference, window)
    outcome = _outcome(evaluation, "bias_drift/race=a/selection_rate")
    # significant, but the interval reaches inside the 0.05 minimum effect: it does not count
    low, high = newcombe(252, 812, 1_528, 4_020, level=0.95)
    assert outcome.status == "pass" and -0.05 < high < 0
    p = outcome.evidence["p_adjusted"]
    assert isinstance(p, float) and p < 0.01
    assert outcome.message.startswith(
        f"race=a selection_rate 0.31 vs baseline 0.38 (change -0.07, 95% interval"
        f" [{low:.2f}, {high:.2f}], n=812 vs 4,020; BH p={p:.2g})"
    )
    larger = _counts_frame({"a": {(1, 1): 180, (0, 0): 400, (1, 0): 232}})  # 0.22 vs 0.38
    moved = _outcome(evaluate_fairness(spec, reference, larger), "bias_drift/race=a/selection_rate")
    assert moved.status == "warn" and moved.interval is not None  # drift_severity warning
    assert moved.interval.high is not None and moved.interval.high < -0.05
    assert (outcome.value, outcome.baseline) == pytest.approx((252 / 812, 1_528 / 4_020))
    assert outcome.metric == "selection_rate" and outcome.threshold is not None
    assert outcome.threshold.upper == pytest.approx(1_528 / 4_020 + 0.05)


def _many_groups(rates: list[float], rows: int, seed: int) -> pd.DataFrame:
    """``len(rates)`` groups of ``rows`` rows whose decisions are drawn at the given rates."""
    rng = np.random.default_rng(seed)
    parts = [
        pd.DataFrame(
            {
                "race": f"g{i:02d}",
                "label": rng.integers(0, 2, rows),
                "pred": (rng.random(rows) < rate).astype(int),
            }
        )
        for i, rate in enumerate(rates)
    ]
    return pd.concat(parts, ignore_index=True)


def test_many_equal_groups_against_the_luckiest_one_do_not_warn() -> None:
    """25 groups of 120 rows with one true selection rate: the highest is high by luck.

    At 95% per row, about one group per window straddled the four-fifths line by chance; the
    rule's rows share the level (Bonferroni over the groups judged), so none warns."""
    spec = _race_spec(policies=["four_fifths_rule"])
    warned = 0
    for seed in range(20):
        evaluation = evaluate_fairness(spec, None, _many_groups([1 / 6] * 25, 120, seed))
        warned += sum(o.firing for o in evaluation.outcomes if o.kind == "policy")
    assert warned <= 1  # of 480 rows judged (a chance breach of 5% per window at most)
    rows = _rule(evaluation, "four_fifths_rule", "selection_rate_impact_ratio").rows
    pairs = 25 * 24 // 2  # the reference is the highest group: every pair is in play
    assert {round(r.interval.level, 6) for r in rows if r.interval} == {round(1 - 0.05 / pairs, 6)}


def test_a_real_gap_among_many_groups_still_fails() -> None:
    spec = _race_spec(policies=["four_fifths_rule"])
    frame = _many_groups([1 / 6] * 24 + [0.02], 400, seed=3)
    outcome = _outcome(
        evaluate_fairness(spec, None, frame),
        "policy/four_fifths_rule/selection_rate_impact_ratio/race=g24",
    )
    assert outcome.status == "fail" and outcome.severity == "critical"


def test_a_group_too_small_to_judge_is_not_everyones_comparator() -> None:
    """The highest rate among groups with enough cases: a 40-row group is not the comparator."""
    tiny = pd.DataFrame({"race": "tiny", "label": 1, "pred": [1] * 30 + [0] * 10})  # 0.75
    frame = pd.concat([_many_groups([0.4, 0.4, 0.6], 3000, seed=5), tiny], ignore_index=True)
    evaluation = evaluate_fairness(_race_spec(policies=["four_fifths_rule"]), None, frame)
    four = _rule(evaluation, "four_fifths_rule", "selection_rate_impact_ratio")
    assert {r.reference_group for r in four.rows} == {"g02"}  # 3,000 rows at about 0.6
    assert next(r for r in four.rows if r.group == "tiny").status == "insufficient_data"


def _selected(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Rows from (selected, rows) per group."""
    return pd.concat(
        [
            pd.DataFrame({"race": g, "label": 1, "pred": [1] * k + [0] * (n - k)})
            for g, (k, n) in counts.items()
        ],
        ignore_index=True,
    )


def test_a_chance_extreme_comparator_does_not_make_the_largest_group_warn() -> None:
    """A 250-row group highest by chance (0.24 against 0.17): the large group's ratio 0.70 is
    beyond 0.8 and its interval excludes 1, but the two groups' own intervals overlap."""
    spec = _race_spec(policies=["four_fifths_rule"])
    frame = _selected({"A": (1071, 6300), "B": (425, 2500), "C": (155, 900), "D": (60, 250)})
    four = _rule(
        evaluate_fairness(spec, None, frame), "four_fifths_rule", "selection_rate_impact_ratio"
    )
    a = next(r for r in four.rows if r.group == "A")
    assert a.reference_group == "D" and a.value is not None and a.value < 0.8
    assert a.status == "insufficient_data" and "chance extreme" in a.reason


def test_a_real_gap_against_the_highest_group_still_warns() -> None:
    spec = _race_spec(policies=["four_fifths_rule"])
    frame = _selected({"A": (600, 1000), "B": (460, 1000)})  # ratio 0.77, groups clearly apart
    four = _rule(
        evaluate_fairness(spec, None, frame), "four_fifths_rule", "selection_rate_impact_ratio"
    )
    b = next(r for r in four.rows if r.group == "B")
    assert b.status == "warn" and b.interval is not None and b.interval.high is not None
    assert b.interval.high > 0.8  # straddles the line: a warning, not a fail

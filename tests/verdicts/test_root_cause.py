"""Root causes (pure): which findings one cause explains, and which it does not.

The builders below make outcomes shaped as ``window_checks`` and ``fairness_checks`` write them
(values, baselines, bounds, intervals, evidence counts); ``degraded_window`` is a realistic bad
window, also used by the message tests in ``test_alert_plan.py``.
"""

from __future__ import annotations

from dataclasses import replace

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Interval, Status, findings
from mlflow_monitor.spec import Severity
from mlflow_monitor.verdicts.root_cause import (
    DATASET_DRIFT,
    assign_causes,
    cause_label,
    could_explain,
    headline,
    level_shifts,
)

GENDER_METRICS = {  # metric -> (baseline, window) of the female group; male is close to it
    "prevalence": (0.43, 0.28),
    "tpr": (0.61, 0.44),
    "fnr": (0.39, 0.56),
    "fpr": (0.22, 0.37),
    "precision": (0.68, 0.32),
    "selection_rate": (0.36, 0.30),
}
RACE_CHANGES = {  # (group, metric) -> (baseline, window)
    ("Black", "fnr"): (0.38, 0.52),
    ("Black", "fpr"): (0.20, 0.29),
    ("White", "fnr"): (0.39, 0.47),
    ("White", "fpr"): (0.21, 0.27),
    ("Asian", "fnr"): (0.40, 0.49),
    ("Asian", "fpr"): (0.22, 0.28),
}
# tested and passing, moving the other way: race's rates did not all move alike (no level shift)
RACE_STEADY = {"fnr": (0.39, 0.37), "fpr": (0.21, 0.20)}


def bias(
    attribute: str,
    group: str,
    metric: str,
    base: float,
    current: float,
    *,
    status: Status = "warn",
    n: int = 400,
    baseline_n: int = 800,
) -> CheckOutcome:
    change = current - base
    return CheckOutcome(
        f"bias_drift/{attribute}={group}/{metric}",
        "bias_drift",
        status,
        "warning",
        current,
        AppliedThreshold(base - 0.05, base + 0.05, "baseline", "significant change of 0.05"),
        f"{attribute}={group} {metric} changed by {change:+.3f} vs baseline",
        metric=metric,
        evidence={
            "baseline_value": base,
            "current_value": current,
            "change": change,
            "baseline_n": baseline_n,
            "current_n": n,
        },
        interval=Interval(change - 0.04, change + 0.04, 0.95, "newcombe", n, baseline_n),
        baseline=base,
    )


def performance(
    metric: str, value: float, base: float, status: Status, severity: Severity = "critical"
) -> CheckOutcome:
    return CheckOutcome(
        f"performance/{metric}",
        "performance",
        status,
        severity,
        value,
        AppliedThreshold(base - 0.05, None, "baseline", f"baseline={base:.6g}"),
        f"{metric} = {value:.4g} < {base - 0.05:.4g} (baseline)",
        metric=metric,
        evidence={"rows": 3000, "labelled_rows": 2900},
    )


def segment(column: str, value: str, metric: float, base: float, status: Status) -> CheckOutcome:
    return CheckOutcome(
        f"segment/{column}={value}",
        "segment",
        status,
        "warning",
        metric,
        AppliedThreshold(base - 0.12, None, "baseline", f"baseline={base:.6g}"),
        f"{column}={value}: f1 {metric:.4g} vs baseline {base:.4g}",
        metric="f1",
        evidence={"rows": 700, "baseline": base},
    )


def drift(column: str, status: Status = "warn", value: float = 0.31) -> CheckOutcome:
    return CheckOutcome(
        f"drift/{column}",
        "drift",
        status,
        "warning",
        value,
        AppliedThreshold(None, 0.2, "drift_method", "psi"),
        f"{column}: drifted (psi = {value:.4g}, threshold 0.2)",
        metric="psi",
    )


def quality(column: str, share: float, status: Status = "warn") -> CheckOutcome:
    return CheckOutcome(
        f"quality/{column}/missing_share",
        "quality",
        status,
        "warning",
        share,
        AppliedThreshold(None, 0.1, "static"),
        f"{column}: missing_share = {share:.2%}",
        metric="missing_share",
    )


def degraded_window() -> list[CheckOutcome]:
    """Performance drop, label prevalence shift, bias drift on both genders (alike: a level
    shift) and on race (not alike: Hispanic moved the other way), a drifted segment column, a
    drifted plain feature, segment drops, a quality finding."""
    genders = [
        bias("gender", group, metric, base + shift, now + shift / 2)
        for group, shift in (("female", 0.0), ("male", -0.02))
        for metric, (base, now) in GENDER_METRICS.items()
    ]
    race = [bias("race", g, m, b, c) for (g, m), (b, c) in RACE_CHANGES.items()]
    race += [bias("race", g, "prevalence", 0.40, 0.33, status="pass") for g in ("Black", "White")]
    race += [bias("race", "Hispanic", m, b, c, status="pass") for m, (b, c) in RACE_STEADY.items()]
    return [
        performance("roc_auc", 0.5387, 0.7704, "fail"),
        performance("recall", 0.4419, 0.6117, "fail"),
        performance("f1", 0.3741, 0.6395, "warn", "warning"),
        performance("accuracy", 0.80, 0.81, "pass"),
        drift("region"),
        drift("age", value=0.24),
        drift("tenure", "pass", 0.02),
        segment("region", "north", 0.57, 0.77, "warn"),
        segment("region", "south", 0.54, 0.76, "warn"),
        segment("contract", "two-year", 0.56, 0.74, "warn"),
        segment("contract", "monthly", 0.70, 0.73, "pass"),
        quality("age", 0.2),
        *genders,
        *race,
    ]


def _causes(outcomes: list[CheckOutcome]) -> dict[str, str | None]:
    return {o.check_id: o.cause for o in assign_causes(outcomes)}


def test_a_degraded_window_is_explained_by_four_causes() -> None:
    causes = _causes(degraded_window())
    # both genders moved alike on every metric (prevalence too): a level shift, not a gap
    gender = {k: v for k, v in causes.items() if k.startswith("bias_drift/gender=")}
    assert len(gender) == 12 and set(gender.values()) == {"shift:gender"}
    # race's own prevalence did not move significantly, but pooled the label share did; and
    # race's rates did not move alike (Hispanic's went the other way): no level shift
    race = {k: v for k, v in causes.items() if k.startswith("bias_drift/race=")}
    assert {race[f"bias_drift/race={g}/{m}"] for g, m in RACE_CHANGES} == {"prevalence"}
    assert race["bias_drift/race=Black/prevalence"] is None  # passing: not a finding
    assert race["bias_drift/race=Hispanic/fnr"] is None
    # region drifted: its own drift finding and its segments' drops
    assert causes["drift/region"] == "drift:region"
    assert causes["segment/region=north"] == causes["segment/region=south"] == "drift:region"
    # contract did not drift: its drop follows the overall label shift (genders pooled)
    assert causes["segment/contract=two-year"] == "prevalence"
    assert {causes[f"performance/{m}"] for m in ("roc_auc", "recall", "f1")} == {"performance"}
    # nothing groups these: a drifted feature that is no grouping column, a quality finding
    assert causes["drift/age"] is None and causes["quality/age/missing_share"] is None
    # outcomes that are not findings never carry a cause
    assert causes["performance/accuracy"] is None and causes["drift/tenure"] is None


def test_both_sides_of_a_binary_attribute_and_several_metrics_of_one_group() -> None:
    outcomes = [
        bias("sex", "Female", "fnr", 0.20, 0.31),
        bias("sex", "Female", "fpr", 0.10, 0.16),
        bias("sex", "Male", "fnr", 0.22, 0.13),  # the other way: a gap, not a level shift
        bias("sex", "Male", "tpr", 0.78, 0.78, status="pass"),
        bias("race", "Black", "fnr", 0.20, 0.34),
        bias("race", "Black", "fpr", 0.10, 0.18),
        bias("race", "White", "fnr", 0.20, 0.27),
        bias("race", "Asian", "fnr", 0.20, 0.20, status="pass"),
        performance("roc_auc", 0.60, 0.77, "fail"),
        performance("f1", 0.70, 0.71, "pass"),
    ]
    causes = _causes(outcomes)
    assert {causes[f"bias_drift/sex={g}"] for g in ("Female/fnr", "Female/fpr", "Male/fnr")} == {
        "attribute:sex"
    }
    assert causes["bias_drift/race=Black/fnr"] == causes["bias_drift/race=Black/fpr"]
    assert causes["bias_drift/race=Black/fnr"] == "group:race=Black"
    # race has three groups (not binary) and White moved on one metric only: no cause
    assert causes["bias_drift/race=White/fnr"] is None
    # one performance finding is not a group
    assert causes["performance/roc_auc"] is None


def test_a_drifted_protected_attribute_explains_its_intersections_too() -> None:
    outcomes = [
        drift("race", "warn"),
        bias("race", "Black", "selection_rate", 0.30, 0.41),
        bias("sex:race", "Female:Black", "selection_rate", 0.28, 0.44),
        bias("sex", "Female", "selection_rate", 0.30, 0.30, status="pass"),
    ]
    causes = _causes(outcomes)
    assert set(causes.values()) - {None} == {"drift:race"}
    assert causes["drift/race"] == causes["bias_drift/sex:race=Female:Black/selection_rate"]
    assert causes["bias_drift/sex=Female/selection_rate"] is None


def test_the_overall_prevalence_shift_is_read_from_the_pooled_counts() -> None:
    # no group's own prevalence change is significant, but pooled the label share moved
    drops = [segment("region", r, 0.60, 0.75, "warn") for r in ("north", "south")]
    groups = [
        bias("sex", g, "prevalence", 0.20, 0.29, status="pass", n=2000, baseline_n=2000)
        for g in ("Female", "Male")
    ]
    assert set(_causes([*drops, *groups]).values()) == {"prevalence", None}
    # the same counts unchanged: nothing explains the two drops together
    flat = [replace(g, evidence={**g.evidence, "current_value": 0.20}) for g in groups]
    assert set(_causes([*drops, *flat]).values()) == {None}
    # counts absent (an older results.json): no overall shift is claimed
    bare = [replace(g, evidence={}) for g in groups]
    assert set(_causes([*drops, *bare]).values()) == {None}


def test_a_cause_already_set_is_kept_and_the_result_is_deterministic() -> None:
    window = degraded_window()
    preset = [replace(o, cause="upstream-join") if o.check_id == "drift/age" else o for o in window]
    first = assign_causes(preset)
    assert {o.check_id: o.cause for o in first}["drift/age"] == "upstream-join"
    assert assign_causes(preset) == first
    reordered = {o.check_id: o.cause for o in assign_causes(list(reversed(preset)))}
    assert reordered == {o.check_id: o.cause for o in first}


def test_could_explain_covers_each_cause_checks_whatever_their_status() -> None:
    passing: Status = "pass"
    fnr = bias("sex", "Female", "fnr", 0.2, 0.2, status=passing)
    north = segment("region", "north", 0.8, 0.8, passing)
    assert could_explain("prevalence", fnr) and could_explain("prevalence", north)
    assert could_explain("drift:region", north) and could_explain("drift:region", drift("region"))
    assert not could_explain("drift:region", fnr)
    assert could_explain("attribute:sex", fnr) and could_explain("group:sex=Female", fnr)
    assert not could_explain("group:sex=Male", fnr)
    assert could_explain("performance", performance("f1", 0.7, 0.7, passing))
    assert not could_explain("performance", quality("age", 0.0, passing))
    assert not could_explain("upstream-join", fnr)  # a cause set elsewhere covers nothing here
    assert could_explain("shift:sex", fnr) and not could_explain("shift:race", fnr)
    share = drift("share_drifted")
    assert could_explain(DATASET_DRIFT, share) and could_explain(DATASET_DRIFT, drift("age"))
    assert not could_explain(DATASET_DRIFT, drift("prediction/score"))  # no feature column
    assert not could_explain(DATASET_DRIFT, north)
    assert cause_label("drift:region") == "region drifted (its distribution changed)"
    assert cause_label("prevalence") == "label prevalence changed"


def test_an_unbounded_threshold_is_still_a_finding_a_cause_can_take() -> None:
    outcomes = [
        replace(performance(m, 0.5, 0.8, "fail"), threshold=AppliedThreshold(None, None, "x"))
        for m in ("roc_auc", "recall")
    ]
    assert set(_causes(outcomes).values()) == {"performance"}


# -- dataset drift: many drifted columns are one cause, prediction drift stays on its own ------
def wide_drift_window(columns: int = 80) -> list[CheckOutcome]:
    """``columns`` drifted features (the share fires), a grouping column that drifted without a
    consequence, one that drifted with a segment drop, prediction drift, one performance and
    one segment finding (the segment column did not drift)."""
    features = [drift(f"feature_{k:03d}", value=0.21 + k / 1000) for k in range(columns)]
    share = replace(
        drift("share_drifted", value=1.0),
        threshold=AppliedThreshold(None, 0.3, "static", "share of drifted feature columns"),
        message=f"{columns + 2} of {columns + 2} feature columns drifted (100%)",
        metric="share_drifted",
    )
    return [
        *features,
        drift("region", value=0.25),  # a segment column: region's drop below follows its drift
        drift("contract", value=0.26),  # a segment column with no finding of its own segments
        share,
        replace(drift("prediction/churn_score", value=0.8), severity="warning"),
        performance("roc_auc", 0.60, 0.77, "fail"),
        segment("region", "north", 0.57, 0.77, "warn"),
        segment("plan", "basic", 0.55, 0.75, "warn"),
        segment("contract", "monthly", 0.73, 0.73, "pass"),
    ]


def test_many_drifted_columns_are_one_dataset_drift_cause() -> None:
    causes = _causes(wide_drift_window())
    dataset = {k for k, v in causes.items() if v == DATASET_DRIFT}
    assert dataset == {f"drift/feature_{k:03d}" for k in range(80)} | {
        "drift/share_drifted",
        "drift/contract",  # a grouping column whose drift explains nothing else: one of many
    }
    # the more specific cause first: region's drift explains its segment's drop too
    assert causes["drift/region"] == causes["segment/region=north"] == "drift:region"
    # prediction drift, the performance finding and the other segment stay on their own
    for alone in ("drift/prediction/churn_score", "performance/roc_auc", "segment/plan=basic"):
        assert causes[alone] is None, alone
    assert cause_label(DATASET_DRIFT).startswith("dataset drift")


def test_dataset_drift_needs_the_share_or_three_drifted_columns() -> None:
    two = [drift("age"), drift("tenure"), drift("income", "pass", 0.01)]
    assert set(_causes(two).values()) == {None}  # two columns, no share: each on its own
    three = [*two[:2], drift("charges")]
    assert set(_causes(three).values()) == {DATASET_DRIFT}
    share = replace(drift("share_drifted", value=0.5), metric="share_drifted")
    assert set(_causes([drift("age"), share]).values()) == {DATASET_DRIFT}
    quiet = replace(share, status="pass", value=0.1)  # the share passes: two columns alone
    assert _causes([*two[:2], quiet]) == dict.fromkeys(
        ("drift/age", "drift/tenure", "drift/share_drifted")
    )


# -- a level shift: every group moved alike ---------------------------------------------------
def test_rates_moving_alike_in_every_group_are_a_level_shift_not_a_gap() -> None:
    both = [
        bias("gender", "female", "selection_rate", 0.38, 0.72),
        bias("gender", "male", "selection_rate", 0.40, 0.73),
    ]
    assert level_shifts(both) == {("gender", "selection_rate")}
    assert set(_causes(both).values()) == {"shift:gender"}
    assert cause_label("shift:gender") == (
        "gender: a level shift in every group, not a gap between groups"
    )
    # the other way for one group: a gap opened, judged by the later rules (both sides moved)
    apart = [both[0], bias("gender", "male", "selection_rate", 0.40, 0.30)]
    assert level_shifts(apart) == frozenset()
    assert set(_causes(apart).values()) == {"attribute:gender"}
    # the same way but one group three times the other, 0.21 apart: not alike
    uneven = [
        bias("race", "Black", "fnr", 0.30, 0.60),
        bias("race", "White", "fnr", 0.30, 0.40),
    ]
    assert level_shifts(uneven) == frozenset()
    # small changes within min_effect of each other are alike, whatever their ratio
    small = [bias("race", g, "fpr", 0.20, 0.20 + d) for g, d in (("Black", 0.06), ("White", 0.02))]
    small[1] = replace(small[1], status="pass")
    assert level_shifts(small, min_effect=0.05) == {("race", "fpr")}


def test_a_level_shift_counts_every_tested_group_and_only_those() -> None:
    rose = [
        bias("race", "Black", "fnr", 0.38, 0.52),
        bias("race", "White", "fnr", 0.39, 0.50),
    ]
    # a tested group that did not move: not every group moved, no level shift
    steady = bias("race", "Asian", "fnr", 0.40, 0.40, status="pass")
    assert level_shifts([*rose, steady]) == frozenset()
    # a group too small to test, and the (missing) group, say nothing either way
    small = bias("race", "Other", "fnr", 0.40, 0.10, status="insufficient_data")
    missing = bias("race", "(missing)", "fnr", 0.40, 0.10)
    assert level_shifts([*rose, small, missing]) == {("race", "fnr")}
    causes = _causes([*rose, small, missing])
    assert causes["bias_drift/race=Black/fnr"] == causes["bias_drift/race=White/fnr"]
    assert causes["bias_drift/race=Black/fnr"] == "shift:race"
    # one group alone is no level shift
    assert level_shifts(rose[:1]) == frozenset()


def test_prevalence_moving_alike_is_no_group_own_change() -> None:
    # the demo's drifted window: both genders' label share rose alike, and every rate with it
    prevalence = [
        bias("gender", "female", "prevalence", 0.42, 0.64),
        bias("gender", "male", "prevalence", 0.44, 0.64),
    ]
    # without the counts (an older results.json) the pooled label shift is not claimed
    prevalence = [
        replace(o, evidence={k: v for k, v in o.evidence.items() if not k.endswith("_n")})
        for o in prevalence
    ]
    window = [
        *prevalence,
        bias("gender", "female", "tpr", 0.59, 0.84),
        bias("gender", "male", "tpr", 0.61, 0.85),
        # female's fdr and fpr moved, male's did not: no level shift there
        bias("gender", "female", "fdr", 0.35, 0.20),
        bias("gender", "male", "fdr", 0.33, 0.32, status="pass"),
        bias("gender", "female", "fpr", 0.22, 0.40),
        bias("gender", "male", "fpr", 0.24, 0.25, status="pass"),
    ]
    causes = _causes(window)
    shifted = [
        f"bias_drift/gender={g}/{m}" for g in ("female", "male") for m in ("prevalence", "tpr")
    ]
    assert {causes[k] for k in shifted} == {"shift:gender"}
    # female's prevalence moved as male's did: it is no group's own change and does not explain
    # female's other metrics; they are several metrics of one group
    own = {causes["bias_drift/gender=female/fdr"], causes["bias_drift/gender=female/fpr"]}
    assert own == {"group:gender=female"}
    # a prevalence change of female's own (male's steady) does explain them
    steady = replace(
        prevalence[1],
        status="pass",
        value=0.45,
        evidence={"baseline_value": 0.44, "current_value": 0.45},
    )
    causes = _causes([prevalence[0], steady, *window[2:]])
    assert causes["bias_drift/gender=female/fdr"] == causes["bias_drift/gender=female/fpr"]
    assert causes["bias_drift/gender=female/fdr"] == "prevalence"


def _finding(check_id: str, status: Status, cause: str | None = None) -> CheckOutcome:
    kind = check_id.split("/")[0]
    return CheckOutcome(check_id, kind, status, "warning", 1.0, None, f"{check_id} moved",
                        cause=cause)  # fmt: skip


def test_headline_leads_with_what_people_act_on_and_counts_its_cause() -> None:
    """Findings of one status read performance and policy first, the data next, slices last
    (not alphabetically: bias_drift sorted before drift once), with the cause's other findings."""
    found = [
        _finding("bias_drift/gender=female/fdr", "warn", "shift:gender"),
        _finding("bias_drift/gender=female/fnr", "warn", "shift:gender"),
        _finding("drift/tenure_months", "warn", DATASET_DRIFT),
        _finding("drift/contract", "warn", DATASET_DRIFT),
        _finding("drift/share_drifted", "warn", DATASET_DRIFT),
        _finding("segment/region=east", "warn"),
    ]
    line = headline(found)
    assert line.startswith("drift/contract: drift/contract moved")
    assert line.endswith("(+2 more: dataset drift (feature columns drifted together))")
    failing = [*found, _finding("performance/roc_auc", "fail"), _finding("policy/x/y/z", "warn")]
    assert headline(failing) == "performance/roc_auc: performance/roc_auc moved"
    assert [o.check_id for o in findings(failing)][:3] == [
        "performance/roc_auc", "policy/x/y/z", "drift/contract",
    ]  # fmt: skip
    short = headline(found, width=80)  # the message is shortened, never the cause
    assert len(short) == 80 and short.endswith(
        "(+2 more: dataset drift (feature columns drifted together))"
    )
    assert headline([_finding("quality/rows", "pass")]) == ""

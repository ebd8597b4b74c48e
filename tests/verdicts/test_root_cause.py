"""Root causes (pure): which findings one cause explains, and which it does not.

The builders below make outcomes shaped as ``window_checks`` and ``fairness_checks`` write them
(values, baselines, bounds, intervals, evidence counts); ``degraded_window`` is a realistic bad
window, also used by the message tests in ``test_alert_plan.py``.
"""

from __future__ import annotations

from dataclasses import replace

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Interval, Status
from mlflow_monitor.spec import Severity
from mlflow_monitor.verdicts.root_cause import assign_causes, cause_label, could_explain

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
    """Performance drop, label prevalence shift, bias drift on both genders and on race, a
    drifted segment column, a drifted plain feature, segment drops, a quality finding."""
    genders = [
        bias("gender", group, metric, base + shift, now + shift / 2)
        for group, shift in (("female", 0.0), ("male", -0.02))
        for metric, (base, now) in GENDER_METRICS.items()
    ]
    race = [bias("race", g, m, b, c) for (g, m), (b, c) in RACE_CHANGES.items()]
    race += [bias("race", g, "prevalence", 0.40, 0.33, status="pass") for g in ("Black", "White")]
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


def test_a_degraded_window_is_explained_by_three_causes() -> None:
    causes = _causes(degraded_window())
    # both genders' prevalence moved: every bias-drift finding of theirs follows it
    gender = {k: v for k, v in causes.items() if k.startswith("bias_drift/gender=")}
    assert len(gender) == 12 and set(gender.values()) == {"prevalence"}
    # race's own prevalence did not move significantly, but pooled the label share did
    race = {k: v for k, v in causes.items() if k.startswith("bias_drift/race=")}
    assert {race[f"bias_drift/race={g}/{m}"] for g, m in RACE_CHANGES} == {"prevalence"}
    assert race["bias_drift/race=Black/prevalence"] is None  # passing: not a finding
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
        bias("sex", "Male", "fnr", 0.22, 0.30),
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
    assert cause_label("drift:region") == "region drifted (its distribution changed)"
    assert cause_label("prevalence") == "label prevalence changed"


def test_an_unbounded_threshold_is_still_a_finding_a_cause_can_take() -> None:
    outcomes = [
        replace(performance(m, 0.5, 0.8, "fail"), threshold=AppliedThreshold(None, None, "x"))
        for m in ("roc_auc", "recall")
    ]
    assert set(_causes(outcomes).values()) == {"performance"}

"""The pure promotion decision and the audit record's JSON form."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Interval, Status
from mlflow_monitor.spec import GateSpec, Severity
from mlflow_monitor.verdicts.promotion import (
    AuditRecord,
    Evidence,
    VersionState,
    decide,
    judged_summary,
    not_judged_reason,
    read_outcomes,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def outcome(
    check_id: str,
    status: Status,
    *,
    message: str = "",
    source: str = "",
    severity: Severity = "critical",
    reason: str = "",
    note: str = "",
    interval: Interval | None = None,
) -> CheckOutcome:
    threshold = AppliedThreshold(0.8, None, source) if source else None
    evidence: dict[str, float | int | str | None] = {"reason": reason} if reason else {}
    if note:
        evidence["note"] = note
    return CheckOutcome(
        check_id,
        "policy",
        status,
        severity,
        None,
        threshold,
        message,
        evidence=evidence,
        interval=interval,
    )


def state(**changes: object) -> VersionState:
    base: dict[str, object] = {
        "model": "churn",
        "version": "3",
        "health": "healthy",
        "health_reason": None,
        "last_checked": NOW - timedelta(hours=2),
        "last_run_id": "run-last",
        "baseline_run_id": "run-base",
        "baseline_present": True,
        "card_present": True,
        "outcomes": (outcome("performance/roc_auc", "pass"),),
    }
    base.update(changes)
    return VersionState(**base)  # type: ignore[arg-type]


def test_healthy_fresh_version_is_granted() -> None:
    decision = decide(state(), GateSpec(), alias="champion", now=NOW)
    assert decision.granted and decision.reasons == ()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"health": "critical", "health_reason": "auc fell"}, "health: critical (auc fell)"),
        ({"health": None}, "health: never monitored"),
        ({"last_checked": NOW - timedelta(days=9)}, "stale: the verdict's window ended 9.0d ago"),
        ({"last_checked": None}, "stale: never checked"),
        ({"baseline_run_id": None, "baseline_present": False}, "baseline: none attached"),
        ({"baseline_present": False}, "baseline: run run-base (monitor.baseline_run_id) does not"),
    ],
)
def test_each_refusal_reason(changes: dict[str, object], expected: str) -> None:
    decision = decide(state(**changes), GateSpec(), alias="champion", now=NOW)
    assert not decision.granted
    assert any(r.startswith(expected) for r in decision.reasons), decision.reasons


def test_every_reason_is_listed_not_just_the_first() -> None:
    bad = state(
        health="critical",
        last_checked=NOW - timedelta(days=30),
        baseline_present=False,
        baseline_run_id=None,
        card_present=False,
    )
    gate = GateSpec(require_card=True)
    reasons = decide(bad, gate, alias="champion", now=NOW).reasons
    assert [r.split(":")[0] for r in reasons] == ["health", "stale", "baseline", "card"]


def test_warning_allowed_when_the_gate_says_so() -> None:
    gate = GateSpec(allowed_health=["healthy", "warning"])
    assert decide(state(health="warning"), gate, alias="staging", now=NOW).granted
    assert not decide(state(health="warning"), GateSpec(), alias="staging", now=NOW).granted


def test_max_age_accepts_durations_and_none_disables_it() -> None:
    old = state(last_checked=NOW - timedelta(days=6))
    assert not decide(old, GateSpec(max_age="1d"), alias="a", now=NOW).granted  # type: ignore[arg-type]
    assert decide(old, GateSpec(max_age=None), alias="a", now=NOW).granted


POLICY = (
    outcome("performance/roc_auc", "pass"),
    outcome(
        "policy/four_fifths_rule/selection_rate_impact_ratio/sex=F",
        "fail",
        message="ratio 0.62 < 0.8",
        source="policy:four_fifths_rule",
    ),
    outcome(
        "policy/four_fifths_rule/selection_rate_impact_ratio/sex=M",
        "pass",
        source="policy:four_fifths_rule",
    ),
    outcome("fairness/sex=X/group_size", "insufficient_data"),
)


@pytest.mark.parametrize(
    ("must_pass", "granted", "expected"),
    [
        (["performance"], True, None),
        (["performance/roc_auc"], True, None),
        (
            ["four_fifths_rule"],
            False,
            "must_pass four_fifths_rule: policy/four_fifths_rule/"
            "selection_rate_impact_ratio/sex=F is fail (ratio 0.62",
        ),
        (["policy/four_fifths_rule"], False, "must_pass policy/four_fifths_rule: policy/"),
        (["fairness"], False, "must_pass fairness: fairness/sex=X/group_size not judged"),
        (["equal_opportunity"], False, "must_pass equal_opportunity: no such check"),
    ],
)
def test_must_pass_by_prefix_or_policy_pack(
    must_pass: list[str], granted: bool, expected: str | None
) -> None:
    decision = decide(state(outcomes=POLICY), GateSpec(must_pass=must_pass), alias="c", now=NOW)
    assert decision.granted is granted
    if expected:
        assert any(r.startswith(expected) for r in decision.reasons), decision.reasons


def test_must_pass_without_results_is_refused() -> None:
    decision = decide(state(outcomes=None), GateSpec(must_pass=["performance"]), alias="c", now=NOW)
    assert decision.reasons == (
        "must_pass performance: the last monitoring run has no results.json",
    )


def test_read_outcomes_reads_results_json_shape() -> None:
    body = {
        "health": "critical",
        "outcomes": [
            {
                "check_id": "policy/p/r/a=b",
                "status": "fail",
                "severity": "critical",
                "message": "m",
                "threshold": {"source": "policy:p", "lower": 0.8},
            },
            {"check_id": "drift/age/psi", "status": "pass", "threshold": None},
        ],
    }
    parsed = read_outcomes(body)
    assert parsed is not None
    assert [(o.check_id, o.status, o.message, o.source) for o in parsed] == [
        ("policy/p/r/a=b", "fail", "m", "policy:p"),
        ("drift/age/psi", "pass", "", ""),
    ]
    assert parsed[0].matches("p") and not parsed[1].matches("p")
    assert read_outcomes({"outcomes": "nope"}) is None


def test_audit_record_round_trips_through_json() -> None:
    evidence = Evidence.of(state(health="critical", outcomes=POLICY), GateSpec())
    record = AuditRecord(
        model="churn",
        alias="champion",
        version="3",
        decision="forced",
        at="2025-03-01T12:00:00.000000Z",
        user="ana",
        previous_version="2",
        reasons=("health: critical",),
        override_reason="hotfix",
        evidence=evidence,
    )
    again = AuditRecord.from_dict(record.to_dict(), run_id="r1")
    assert again == record and again.run_id == "r1"
    assert again.evidence is not None
    assert again.evidence.not_passing == (
        "policy/four_fifths_rule/selection_rate_impact_ratio/sex=F=fail",
        "fairness/sex=X/group_size=insufficient_data",
    )
    assert record.tags()["monitor.audit.previous_version"] == "2"


NO_LABELS = (
    outcome("drift/age", "pass"),
    outcome(
        "performance/roc_auc",
        "not_evaluated",
        message="roc_auc: not evaluated, no labels in the window",
        reason="no labels in the window",
    ),
    outcome(
        "performance/f1",
        "not_evaluated",
        severity="warning",
        message="f1: not evaluated, no labels in the window",
        reason="no labels in the window",
    ),
)


def test_critical_check_not_evaluated_refuses_a_healthy_version() -> None:
    decision = decide(state(outcomes=NO_LABELS), GateSpec(), alias="champion", now=NOW)
    assert not decision.granted
    assert decision.reasons == ("performance/roc_auc was not evaluated: no labels in the window",)


def test_must_pass_lists_a_critical_unevaluated_check_once_and_refuses_a_warning_one() -> None:
    gate = GateSpec(must_pass=["performance"])
    reasons = decide(state(outcomes=NO_LABELS), gate, alias="champion", now=NOW).reasons
    assert reasons == (
        "performance/roc_auc was not evaluated: no labels in the window",
        "must_pass performance: 2 checks: 2 not evaluated (not judged)",
        "must_pass performance: performance/f1 not judged: not evaluated (no labels in the window)",
    )


SMALL = (
    outcome("performance/roc_auc", "pass"),
    outcome(
        "segment/region=tiny",
        "insufficient_data",
        message="region=tiny: insufficient data",
        note="12 rows < min_size 100",
        interval=Interval(None, None, 0.95, "delong", 12, 4_000),
    ),
)


def test_insufficient_data_named_by_must_pass_refuses_as_not_judged_with_its_counts() -> None:
    gate = GateSpec(must_pass=["segment"])
    decision = decide(state(outcomes=SMALL), gate, alias="champion", now=NOW)
    assert not decision.granted
    assert decision.reasons == (
        "must_pass segment: 1 check: 1 insufficient data (not judged)",
        "must_pass segment: segment/region=tiny not judged: insufficient data "
        "(12 rows < min_size 100; n=12 vs 4000)",
    )


def test_insufficient_data_not_named_by_must_pass_never_refuses() -> None:
    """Not a finding: health ignores it, so a gate without must_pass on it grants."""
    for gate in (GateSpec(), GateSpec(must_pass=["performance"])):
        assert decide(state(outcomes=SMALL), gate, alias="champion", now=NOW).granted


def test_judged_summary_counts_every_status_and_says_all_pass_only_when_all_pass() -> None:
    rules = [outcome(f"policy/p/r/a={g}", "pass") for g in "abcde"]
    small = [outcome(f"policy/p/r/a={g}", "insufficient_data") for g in "xy"]
    summary = judged_summary([*rules, *small])
    assert (summary.total, summary.passed, summary.judged, summary.not_judged) == (7, 5, 5, 2)
    assert not summary.all_pass
    assert summary.text("rule check") == ("7 rule checks: 5 pass, 2 insufficient data (not judged)")
    assert judged_summary(rules).text("rule check") == "5 rule checks: all 5 pass"
    assert judged_summary(rules[:1]).text() == "1 check: pass"
    mixed = judged_summary([outcome("a", "fail"), outcome("b", "not_evaluated"), rules[0]])
    assert mixed.text() == "3 checks: 1 pass, 1 fail, 1 not evaluated (not judged)"
    assert judged_summary([]).text("rule check") == "no rule checks"
    assert not judged_summary([]).all_pass


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (SMALL[1], "not judged: insufficient data (12 rows < min_size 100; n=12 vs 4000)"),
        (
            CheckOutcome(
                "fairness/sex=X/group_size",
                "fairness",
                "insufficient_data",
                "info",
                12.0,
                None,
                "m",
                evidence={"size": 12, "min_group_size": 30},
            ),
            "not judged: insufficient data (12 rows < minimum 30)",
        ),
        (NO_LABELS[2], "not judged: not evaluated (no labels in the window)"),
    ],
)
def test_not_judged_reason_names_the_counts(check: CheckOutcome, expected: str) -> None:
    assert not_judged_reason(check) == expected

"""The pure promotion decision and the audit record's JSON form."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Status
from mlflow_monitor.spec import GateSpec, Severity
from mlflow_monitor.verdicts.promotion import (
    AuditRecord,
    Evidence,
    VersionState,
    decide,
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
) -> CheckOutcome:
    threshold = AppliedThreshold(0.8, None, source) if source else None
    evidence: dict[str, float | int | str | None] = {"reason": reason} if reason else {}
    return CheckOutcome(
        check_id, "policy", status, severity, None, threshold, message, evidence=evidence
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
        ({"last_checked": NOW - timedelta(days=9)}, "stale: last checked 9.0d ago"),
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
        (["fairness"], True, None),  # a group below its minimum size: insufficient_data
        (["equal_opportunity"], False, "must_pass equal_opportunity: no such check"),
    ],
)
def test_must_pass_by_prefix_or_policy_pack(
    must_pass: list[str], granted: bool, expected: str | None
) -> None:
    decision = decide(state(outcomes=POLICY), GateSpec(must_pass=must_pass), alias="c", now=NOW)
    assert decision.granted is granted
    if expected:
        assert decision.reasons[0].startswith(expected), decision.reasons


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
        "must_pass performance: performance/f1 is not_evaluated "
        "(f1: not evaluated, no labels in the window)",
    )


def test_small_group_insufficient_data_never_refuses_even_when_critical_and_must_pass() -> None:
    small = (
        outcome("performance/roc_auc", "pass"),
        outcome("segment/region=tiny", "insufficient_data", message="12 rows < min_size 100"),
    )
    gate = GateSpec(must_pass=["segment", "performance"])
    decision = decide(state(outcomes=small), gate, alias="champion", now=NOW)
    assert decision.granted, decision.reasons

"""The contract: every result type round-trips, older schema versions read, time has one format."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlflow_monitor import contract
from mlflow_monitor.contract import (
    RESULTS_SCHEMA_VERSION,
    AppliedThreshold,
    CheckOutcome,
    MetricValue,
    Status,
    WindowResults,
    parse_utc,
    read_results,
    utc_text,
    write_results,
)
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import Severity

OUTCOMES = (
    CheckOutcome(
        "performance/roc_auc",
        "performance",
        "fail",
        "critical",
        0.61,
        AppliedThreshold(0.7, None, "baseline", "baseline=0.81"),
        "roc_auc = 0.61 < 0.7 (baseline)",
        metric="roc_auc",
        evidence={"baseline": 0.81, "rows": 3000, "note": "x", "missing": None},
    ),
    CheckOutcome("drift/age/psi", "drift", "pass", "warning", 0.02, None, "psi ok"),
    CheckOutcome(
        "perf_est/roc_auc",
        "performance",
        "warn",
        "warning",
        0.7,
        None,
        "est",
        None,
        {},
        basis="estimated",
        cause="upstream-join",
    ),
    CheckOutcome(
        "fairness/sex=F/group_size", "fairness", "insufficient_data", "info", None, None, "n=3"
    ),
)


def _results(**changes: object) -> WindowResults:
    body: dict[str, object] = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "model": "churn",
        "model_version": "3",
        "window_start": "2026-11-23T00:00:00Z",
        "window_end": "2026-11-30T00:00:00Z",
        "rows": 3000,
        "health": "critical",
        "outcomes": OUTCOMES,
        "metrics": (MetricValue("perf/roc_auc", 0.61), MetricValue("drift/age/psi", 0.02)),
        "notes": ("a note",),
        "sections": {"drift": {"columns": []}, "fairness": None},
    }
    body.update(changes)
    return WindowResults(**body)  # type: ignore[arg-type]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda o: o.check_id)
def test_check_outcome_round_trips_through_json(outcome: CheckOutcome) -> None:
    text = json.dumps(outcome.to_dict(), allow_nan=False)
    assert CheckOutcome.from_dict(json.loads(text)) == outcome


def test_window_results_round_trip_and_file(tmp_path: Path) -> None:
    results = _results()
    path = write_results(results.to_dict(), tmp_path)
    assert path == tmp_path / contract.RESULTS_FILE
    back = read_results(path)
    assert back == results
    assert back.to_dict()["counts"] == {"fail": 1, "pass": 1, "warn": 1, "insufficient_data": 1}
    assert [o.check_id for o in back.findings] == ["performance/roc_auc", "perf_est/roc_auc"]


def _unjudged(status: Status, severity: Severity) -> CheckOutcome:
    return CheckOutcome(
        "performance/recall",
        "performance",
        status,
        severity,
        None,
        None,
        "recall: not evaluated, no labels in the window",
        metric="recall",
        evidence={"rows": 2000, "labelled_rows": 0, "reason": "no labels in the window"},
    )


@pytest.mark.parametrize(
    ("extra", "partial"),
    [
        ((), False),
        ((_unjudged("not_evaluated", "critical"),), True),
        ((_unjudged("not_evaluated", "warning"),), False),  # only critical checks count
        ((_unjudged("insufficient_data", "critical"),), False),  # too small is not absent
    ],
)
def test_partial_when_a_critical_check_was_not_evaluated(
    tmp_path: Path, extra: tuple[CheckOutcome, ...], partial: bool
) -> None:
    results = _results(health="healthy", outcomes=OUTCOMES[1:] + extra)
    assert results.partial is partial
    back = read_results(write_results(results.to_dict(), tmp_path))
    assert back.partial is partial and back.health == "healthy"
    assert not any(o.status == "not_evaluated" for o in back.findings)  # never a finding


def test_schema_version_1_reads_and_a_newer_one_is_refused() -> None:
    body = _results().to_dict()
    body["schema_version"] = 1
    assert WindowResults.from_dict(body).schema_version == 1
    body.pop("schema_version")  # the earliest files: no version at all
    assert WindowResults.from_dict(body).outcomes == OUTCOMES
    body["schema_version"] = RESULTS_SCHEMA_VERSION + 1
    with pytest.raises(DataError, match="newer than this release reads"):
        WindowResults.from_dict(body)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcomes": "nope"}, "'outcomes' must be a list"),
        ({"health": "fine"}, "unknown health 'fine'"),
        ({"outcomes": [{"status": "pass"}]}, "has no 'check_id'"),
        ({"outcomes": [{"check_id": "x", "status": "ok"}]}, "status 'ok'"),
    ],
)
def test_malformed_results_are_one_clear_error(change: dict[str, object], message: str) -> None:
    body = {**_results().to_dict(), **change}
    with pytest.raises(DataError, match=message):
        WindowResults.from_dict(body)


def test_unreadable_results_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no results\.json"):
        read_results(tmp_path / "results.json")
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(DataError, match=r"unreadable results\.json"):
        read_results(tmp_path / "results.json")


def test_matches_by_id_prefix_segment_or_policy_pack() -> None:
    policy = CheckOutcome(
        "policy/four_fifths_rule/impact/sex=F",
        "policy",
        "fail",
        "critical",
        0.6,
        AppliedThreshold(0.8, None, "policy:four_fifths_rule"),
        "",
    )
    assert policy.matches("policy") and policy.matches("policy/four_fifths_rule/")
    assert policy.matches("impact") and policy.matches("four_fifths_rule")
    assert not policy.matches("equal_opportunity") and not policy.matches("polic")


def test_one_utc_time_format() -> None:
    moment = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=2)))
    assert utc_text(moment) == "2026-11-29T23:02:03Z"
    assert utc_text(moment, precise=True) == "2026-11-29T23:02:03.456789Z"
    assert utc_text(datetime(2026, 1, 1)) == "2026-01-01T00:00:00Z"  # naive is UTC
    for text in ("2026-11-29T23:02:03Z", "2026-11-30T01:02:03+02:00", "2026-11-29T23:02:03"):
        assert parse_utc(text) == datetime(2026, 11, 29, 23, 2, 3, tzinfo=timezone.utc)


def test_metric_names_keep_every_character_position() -> None:
    assert contract.safe_metric_name("segment/region=north/roc_auc") == (
        "segment/region_north/roc_auc"
    )
    assert contract.experiment_name("churn") == "monitor/churn"
    assert contract.WINDOW_RUNS_FILTER == "tags.`monitor.kind` = 'window'"


@pytest.mark.parametrize(
    "column", ["../x", "a/../../b", ".", "", "a=b", "naïve col", "/etc/passwd", "a//b"]
)
def test_metric_names_from_any_column_are_accepted_by_mlflow(column: str) -> None:
    from mlflow.utils.validation import _validate_metric_name

    for name in (f"drift/{column}/psi", f"segment/{column}=x/roc_auc"):
        _validate_metric_name(contract.safe_metric_name(name))  # raises on a refused name

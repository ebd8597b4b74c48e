"""``workflows.status`` on a real SQLite MLflow store: what each version's row says, and why.

Versions are registered with MlflowClient; their monitoring state is the contract's version tags
set directly (as the run workflow sets them) and, for a verdict, a real window run carrying a
real ``results.json``.
"""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import (
    KIND_WINDOW,
    TAG_BASELINE_RUN,
    TAG_HEALTH,
    TAG_LAST_CHECKED,
    TAG_LAST_ERROR,
    TAG_LAST_ERROR_AT,
    TAG_LAST_ERROR_RUN,
    TAG_LAST_RUN,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
    AppliedThreshold,
    CheckOutcome,
    Interval,
    WindowResults,
    write_results,
)
from mlflow_monitor.workflows.status import StatusRow, status_json, status_rows, status_table

START, END = "2025-01-13T00:00:00Z", "2025-01-20T00:00:00Z"
ERROR = (
    "monitor.ipynb cell 7: KeyError: 'churn_score' is missing from the window file "
    "/data/window.parquet\nTraceback (most recent call last): ..."
)


def add_versions(uri: str, model: str, count: int, source: Path) -> None:
    """Register ``model`` with ``count`` versions (no files needed: status reads tags and runs)."""
    client = MlflowClient(uri, uri)
    client.create_registered_model(model)
    for _ in range(count):
        client.create_model_version(model, source.as_uri())


def outcome(check_id: str, status: str, severity: str = "critical") -> CheckOutcome:
    kind = check_id.split("/")[0]
    return CheckOutcome(check_id, kind, status, severity, None, None, "")  # type: ignore[arg-type]


# seven policy rule checks: five judged and passing, two groups too small to judge
SMALL_GROUPS = [
    *(
        outcome(f"policy/four_fifths_rule/selection_rate_impact_ratio/race={g}", "pass")
        for g in "abcde"
    ),
    *(
        outcome(
            f"policy/four_fifths_rule/selection_rate_impact_ratio/race={g}", "insufficient_data"
        )
        for g in "xy"
    ),
]


def record_verdict(
    uri: str, model: str, version: str, health: str, outcomes: list[CheckOutcome], work: Path
) -> str:
    """A finished window run with its results.json; the version's verdict tags point at it."""
    runs = MonitorRuns(uri)
    run_id = runs.start_run(model, version, kind=KIND_WINDOW, run_name="window", tags={})
    results = WindowResults(model, version, START, END, 100, health, tuple(outcomes), ())  # type: ignore[arg-type]
    runs.log_file(run_id, write_results(results.to_dict(), work / run_id))
    runs.end_run(run_id, "FINISHED")
    tags = {
        TAG_HEALTH: health,
        TAG_LAST_RUN: run_id,
        TAG_LAST_CHECKED: "2025-01-20T01:00:00Z",
        TAG_WINDOW_START: START,
        TAG_WINDOW_END: END,
        TAG_BASELINE_RUN: "baseline-run",
    }
    runs.set_version_tags(model, version, tags)
    return run_id


def set_tags(uri: str, model: str, version: str, tags: dict[str, str]) -> None:
    client = MlflowClient(uri, uri)
    for key, value in tags.items():
        client.set_model_version_tag(model, version, key, value)


def by_version(rows: list[StatusRow]) -> dict[str, StatusRow]:
    return {r.version: r for r in rows}


def test_health_says_why_there_is_no_verdict(tracking_uri: str, tmp_path: Path) -> None:
    add_versions(tracking_uri, "churn", 3, tmp_path)
    set_tags(tracking_uri, "churn", "2", {TAG_BASELINE_RUN: "baseline-run"})
    failed = {
        TAG_BASELINE_RUN: "baseline-run",
        TAG_LAST_ERROR: ERROR,
        TAG_LAST_ERROR_RUN: "failed-run",
        TAG_LAST_ERROR_AT: "2025-01-20T01:00:00Z",
    }
    set_tags(tracking_uri, "churn", "3", failed)

    rows = by_version(status_rows("churn", tracking_uri=tracking_uri))

    assert rows["1"].health == "no baseline"
    assert rows["2"].health == "not checked"
    assert rows["3"].health == "failed (no verdict)"
    assert rows["3"].verdict is None
    assert (rows["3"].last_error_run_id, rows["3"].last_error_at) == (
        "failed-run",
        failed[TAG_LAST_ERROR_AT],
    )


def test_a_critical_check_not_evaluated_makes_the_verdict_partial(
    tracking_uri: str, tmp_path: Path
) -> None:
    add_versions(tracking_uri, "churn", 2, tmp_path)
    record_verdict(
        tracking_uri,
        "churn",
        "1",
        "healthy",
        [outcome("performance/roc_auc", "not_evaluated"), outcome("drift/age", "pass")],
        tmp_path,
    )
    # a warning-level check without its input does not make the verdict partial
    record_verdict(
        tracking_uri,
        "churn",
        "2",
        "healthy",
        [outcome("performance/f1", "not_evaluated", "warning")],
        tmp_path,
    )

    rows = by_version(status_rows("churn", tracking_uri=tracking_uri))

    assert rows["1"].health == "healthy (partial)" and rows["1"].partial
    assert rows["1"].verdict == "healthy"
    assert rows["1"].failing == ("performance/roc_auc (not_evaluated)",)
    assert rows["2"].health == "healthy" and not rows["2"].partial


def test_table_columns_window_last_error_and_failing(tracking_uri: str, tmp_path: Path) -> None:
    add_versions(tracking_uri, "churn", 1, tmp_path)
    findings = [outcome(f"segment/region={r}/roc_auc", "fail") for r in "abcde"]
    record_verdict(tracking_uri, "churn", "1", "critical", findings, tmp_path)
    set_tags(tracking_uri, "churn", "1", {TAG_LAST_ERROR: ERROR, TAG_LAST_ERROR_RUN: "r2"})
    MlflowClient(tracking_uri, tracking_uri).set_registered_model_alias("churn", "champion", "1")

    rows = status_rows("churn", tracking_uri=tracking_uri)
    header, line = status_table(rows).splitlines()

    assert header.split() == [
        "MODEL",
        "VERSION",
        "ALIASES",
        "HEALTH",
        "WINDOW",
        "LAST",
        "ERROR",
        "CHECKS",
        "FAILING",
    ]
    assert line.split()[:5] == ["churn", "1", "champion", "critical", END]
    assert " 5 checks: 5 fail " in line
    assert "monitor.ipynb cell 7: KeyError: 'churn_score' is missing..." in line
    assert "Traceback" not in line
    assert line.endswith(
        "segment/region=a/roc_auc (fail); segment/region=b/roc_auc (fail); "
        "segment/region=c/roc_auc (fail); +2 more"
    )
    verbose = status_table(rows, verbose=True).splitlines()[1]
    assert verbose.endswith("segment/region=e/roc_auc (fail)")
    assert rows[0].last_error == ERROR  # the table shortens it, the row keeps it


def test_json_has_every_field_and_the_complete_failing_list(
    tracking_uri: str, tmp_path: Path
) -> None:
    import json

    add_versions(tracking_uri, "churn", 1, tmp_path)
    findings = [outcome(f"drift/c{i}", "fail") for i in range(5)]
    run_id = record_verdict(tracking_uri, "churn", "1", "critical", findings, tmp_path)

    (row,) = json.loads(status_json(status_rows("churn", tracking_uri=tracking_uri)))

    assert row == {
        "model": "churn",
        "version": "1",
        "aliases": [],
        "health": "critical",
        "verdict": "critical",
        "partial": False,
        "window_start": START,
        "window_end": END,
        "last_checked": "2025-01-20T01:00:00Z",
        "last_run_id": run_id,
        "baseline_run_id": "baseline-run",
        "last_error": None,
        "last_error_run_id": None,
        "last_error_at": None,
        "failing": [f"drift/c{i} (fail)" for i in range(5)],
        "checks": "5 checks: 5 fail",
        "policy_checks": "",
        "check_counts": {"fail": 5},
        "policy_counts": {},
        "finding_details": [f"drift/c{i} (fail)" for i in range(5)],
        "not_judged": [],
        "slos": [],
        "bypasses": [],
    }


def test_checks_count_small_groups_as_not_judged_never_as_passing_or_failing(
    tracking_uri: str, tmp_path: Path
) -> None:
    add_versions(tracking_uri, "lending", 1, tmp_path)
    outcomes = [outcome("performance/roc_auc", "pass"), *SMALL_GROUPS]
    record_verdict(tracking_uri, "lending", "1", "healthy", outcomes, tmp_path)

    (row,) = status_rows("lending", tracking_uri=tracking_uri)

    assert row.health == "healthy" and row.failing == ()  # never a finding
    assert row.policy_checks == "7 rule checks: 5 pass, 2 insufficient data (not judged)"
    assert row.checks == "8 checks: 6 pass, 2 insufficient data (not judged)"
    assert row.check_counts == {"pass": 6, "insufficient_data": 2}
    assert row.policy_counts == {"pass": 5, "insufficient_data": 2}
    line = status_table([row]).splitlines()[1]
    # the rule checks are among the 8, not extra to them
    assert (
        "8 checks (7 of them policy rules): 6 pass, 2 insufficient data (not judged); "
        "policy rules: 5 pass, 2 insufficient data (not judged)"
    ) in line
    assert ": all" not in line and "passing" not in line and "7 rule checks" not in line


RULE_X = "policy/four_fifths_rule/selection_rate_impact_ratio/race=x"


def test_verbose_shows_each_findings_numbers_and_why_checks_were_not_judged(
    tracking_uri: str, tmp_path: Path
) -> None:
    auc = CheckOutcome(
        "performance/roc_auc",
        "performance",
        "fail",
        "critical",
        0.712,
        AppliedThreshold(0.76, None, "baseline"),
        "roc_auc = 0.712 < 0.76",
        interval=Interval(0.68, 0.74, 0.95, "delong", 400),
        baseline=0.81,
    )
    small = CheckOutcome(
        RULE_X,
        "policy",
        "insufficient_data",
        "critical",
        None,
        None,
        "",
        evidence={"size": 12, "note": "group has 12 rows < minimum 30"},
    )
    labels = CheckOutcome(
        "performance/f1",
        "performance",
        "not_evaluated",
        "warning",
        None,
        None,
        "",
        evidence={"reason": "no labels in the window"},
    )
    add_versions(tracking_uri, "churn", 1, tmp_path)
    outcomes = [auc, small, labels, outcome("drift/age", "pass")]
    record_verdict(tracking_uri, "churn", "1", "critical", outcomes, tmp_path)

    rows = status_rows("churn", tracking_uri=tracking_uri)
    short, verbose = status_table(rows), status_table(rows, verbose=True)

    detail = (
        "performance/roc_auc (fail): value 0.712, baseline 0.81, allowed [0.76, +inf] "
        "(baseline), interval [0.68, 0.74] (95% delong, n=400)"
    )
    assert rows[0].finding_details == (detail,)
    assert rows[0].not_judged == (
        "performance/f1: not evaluated (no labels in the window)",
        f"{RULE_X}: insufficient data (group has 12 rows < minimum 30)",
    )
    assert detail not in short and "not judged (2):" not in short
    assert f"churn version 1 (critical), window ending {END}:" in verbose
    assert f"  findings (1):\n    - {detail}" in verbose
    assert (
        "  not judged (2):\n    - performance/f1: not evaluated (no labels in the window)\n"
        f"    - {RULE_X}: insufficient data (group has 12 rows < minimum 30)"
    ) in verbose
    assert (
        "4 checks (1 of them policy rule): 1 pass, 1 fail, 1 insufficient data (not judged), "
        "1 not evaluated (not judged); policy rule: 1 insufficient data (not judged)"
    ) in short


def test_a_model_name_with_a_quote(tracking_uri: str, tmp_path: Path) -> None:
    add_versions(tracking_uri, "o'brien's model", 1, tmp_path)
    add_versions(tracking_uri, "other", 1, tmp_path)
    record_verdict(tracking_uri, "o'brien's model", "1", "healthy", [], tmp_path)

    (row,) = status_rows("o'brien's model", tracking_uri=tracking_uri)

    assert (row.model, row.health, row.window_end) == ("o'brien's model", "healthy", END)

"""Trend series from windows' results: each point carries the band applied in its own window."""

from __future__ import annotations

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, MetricValue, WindowResults
from mlflow_monitor.verdicts.trends import (
    EventMark,
    WindowRecord,
    build_trends,
    logged_name,
    worst_health,
)


def outcome(
    check_id: str,
    metric: str,
    value: float,
    status: str,
    lower: float | None = None,
    upper: float | None = None,
    *,
    basis: str = "measured",
    source: str = "baseline",
) -> CheckOutcome:
    threshold = AppliedThreshold(lower, upper, source)
    return CheckOutcome(
        check_id, check_id.split("/")[0], status, "critical", value, threshold,  # type: ignore[arg-type]
        f"{metric} {value}", metric=metric, basis=basis,  # type: ignore[arg-type]
    )  # fmt: skip


def window(
    end: str, version: str, auc: float, lower: float, psi: float, *, health: str = "healthy"
) -> WindowResults:
    auc_status = "fail" if auc < lower else "pass"
    psi_status = "warn" if psi > 0.2 else "pass"
    return WindowResults(
        model="m",
        model_version=version,
        window_start=None,
        window_end=end,
        rows=100,
        health=health,  # type: ignore[arg-type]
        outcomes=(
            outcome("performance/roc_auc", "roc_auc", auc, auc_status, lower),
            outcome("drift/age", "psi", psi, psi_status, None, 0.2, source="drift_method"),
        ),
        metrics=(
            MetricValue("perf/roc_auc", auc),
            MetricValue("drift/age/psi", psi),
            MetricValue("quality/rows", 100.0),
        ),
    )


def test_points_follow_window_order_with_each_windows_own_band() -> None:
    records = [  # given out of order: a backfill's run came last
        WindowRecord(
            "r3", window("2026-01-03T00:00:00Z", "2", 0.60, 0.70, 0.30, health="critical")
        ),
        WindowRecord("r1", window("2026-01-01T00:00:00Z", "1", 0.80, 0.72, 0.05)),
        WindowRecord("r2", window("2026-01-02T00:00:00Z", "1", 0.78, 0.71, 0.10)),
    ]
    trends = build_trends(model="m", windows=records)

    assert [w.run_id for w in trends.windows] == ["r1", "r2", "r3"]
    assert [w.health for w in trends.windows] == ["healthy", "healthy", "critical"]
    assert trends.versions == ("1", "2")  # a promotion changes the version along the line
    auc = trends.series_for("perf/roc_auc")
    assert auc is not None and auc.check_id == "performance/roc_auc"
    assert [p.lower for p in auc.points] == [0.72, 0.71, 0.70]  # the band moved with the windows
    assert [p.crossed for p in auc.points] == [False, False, True]
    assert [p.run_id for p in auc.crossings] == ["r3"]
    psi = trends.series_for("drift/age/psi")
    assert psi is not None and [p.upper for p in psi.points] == [0.2, 0.2, 0.2]
    rows = trends.series_for("quality/rows")  # logged, judged by no check: no band
    assert rows is not None and rows.check_id is None and not rows.banded
    # the series that fired in the latest window come first, in family order
    assert [s.metric for s in trends.failing] == ["perf/roc_auc", "drift/age/psi"]
    assert [s.metric for s in trends.firing_now] == ["perf/roc_auc", "drift/age/psi"]  # fail, warn
    assert trends.fired_before == ()


def test_a_measured_outcome_is_drawn_over_its_estimated_twin() -> None:
    results = window("2026-01-01T00:00:00Z", "1", 0.8, 0.7, 0.0)
    estimated = outcome("performance/roc_auc", "roc_auc", 0.5, "warn", 0.7, basis="estimated")
    measured = outcome("performance/roc_auc", "roc_auc", 0.8, "not_evaluated", 0.7)
    both = WindowResults(
        **{**results.__dict__, "outcomes": (measured, estimated),
           "metrics": (MetricValue("perf/roc_auc", 0.8), MetricValue("perf_est/roc_auc", 0.5))},
    )  # fmt: skip
    trends = build_trends(model="m", windows=[WindowRecord("r", both)])
    est = trends.series_for("perf_est/roc_auc")
    real = trends.series_for("perf/roc_auc")
    assert est is not None and est.points[0].basis == "estimated" and est.points[0].crossed
    assert real is not None and real.points[0].status == "not_evaluated"


def test_outcomes_map_to_the_metric_names_mlflow_logged() -> None:
    logged = {
        "perf/recall", "drift/age/psi", "segment/region=east/roc_auc", "quality/rows",
        "fairness/sex=f/selection_rate", "fairness/sex=f/selection_rate_ratio",
        "fairness_est/sex=f/tpr",
    }  # fmt: skip
    cases = {
        ("performance/recall", "recall", "measured"): "perf/recall",
        ("drift/age", "psi", "measured"): "drift/age/psi",
        ("segment/region=east", "roc_auc", "measured"): "segment/region=east/roc_auc",
        ("quality/rows", "rows", "measured"): "quality/rows",
        ("bias_drift/sex=f/selection_rate", "selection_rate", "measured"):
            "fairness/sex=f/selection_rate",
        ("policy/four_fifths_rule/impact/sex=f", "selection_rate_ratio", "measured"):
            "fairness/sex=f/selection_rate_ratio",
        ("policy/equal_opportunity/tpr/sex=f", "tpr", "estimated"): "fairness_est/sex=f/tpr",
        ("drift/unlogged", "psi", "measured"): None,
    }  # fmt: skip
    for (check_id, metric, basis), expected in cases.items():
        found = logged_name(outcome(check_id, metric, 0.0, "pass", basis=basis), logged)
        assert found == expected, check_id


def test_events_are_in_time_order_and_worst_health_ranks() -> None:
    events = [
        EventMark("2026-01-03T00:00:00Z", "alert", "1", "critical sent to ops"),
        EventMark("2026-01-02T10:00:00Z", "alias", "2", "moved @champion -> v2"),
    ]
    trends = build_trends(model="m", windows=[], events=events)
    assert [e.kind for e in trends.events] == ["alias", "alert"]
    assert trends.to_dict()["events"][0]["text"] == "moved @champion -> v2"  # type: ignore[index]
    assert worst_health(["healthy", None, "critical", "warning"]) == "critical"
    assert worst_health(["no baseline", None]) is None


def test_estimates_no_check_judged_are_still_drawn_as_estimates() -> None:
    results = window("2026-01-01T00:00:00Z", "1", 0.8, 0.7, 0.0)
    with_estimate = WindowResults(
        **{**results.__dict__, "metrics": (*results.metrics, MetricValue("perf_est/f1", 0.6))}
    )
    trends = build_trends(model="m", windows=[WindowRecord("r", with_estimate)])
    est = trends.series_for("perf_est/f1")
    assert est is not None and est.points[0].basis == "estimated" and est.check_id is None
    measured = trends.series_for("quality/rows")
    assert measured is not None and measured.points[0].basis == "measured"

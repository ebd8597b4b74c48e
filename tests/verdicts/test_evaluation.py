"""window.py: a window judged against its baseline (pure): health, outcomes, metric names, JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.contract import WindowResults
from mlflow_monitor.spec import GateSpec, MonitorSpec, parse_spec
from mlflow_monitor.verdicts.baseline_model import Baseline, build_baseline_from_frame
from mlflow_monitor.verdicts.evaluation import WindowResult, evaluate_window
from mlflow_monitor.verdicts.promotion import VersionState, decide
from mlflow_monitor.workflows import demo


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return parse_spec(yaml.safe_load(demo.CHURN_SPEC.format(model="churn")))


@pytest.fixture(scope="module")
def model() -> object:
    return demo.train_churn_model(demo.make_churn(5000, seed=1))


@pytest.fixture(scope="module")
def baseline(spec: MonitorSpec, model: object) -> Baseline:
    return build_baseline_from_frame(spec, demo.score(model, demo.make_churn(4000, seed=2)))


@pytest.fixture(scope="module")
def windows(spec: MonitorSpec, baseline: Baseline, model: object) -> dict[str, WindowResult]:
    return {
        plan.name: evaluate_window(spec, baseline, demo.score(model, frame), model_version="3")
        for plan, frame in demo.demo_windows(3000)
    }


def _status(result: WindowResult, check_id: str) -> str:
    [outcome] = [o for o in result.outcomes if o.check_id == check_id]
    return outcome.status


@pytest.mark.parametrize(
    ("name", "health"), [("stable", "healthy"), ("drifted", "warning"), ("degraded", "critical")]
)
def test_injected_drift_and_decay_give_the_expected_health(
    windows: dict[str, WindowResult], name: str, health: str
) -> None:
    assert windows[name].health == health


def test_drift_is_found_on_the_shifted_columns_only(windows: dict[str, WindowResult]) -> None:
    drifted = windows["drifted"]
    for column in ("monthly_charges", "tenure_months", "contract"):
        assert _status(drifted, f"drift/{column}") == "warn"
    for column in ("age", "payment_method", "region", "support_calls"):
        assert _status(drifted, f"drift/{column}") == "pass"
    assert _status(drifted, "performance/roc_auc") == "pass"


def test_decay_fails_the_performance_check(windows: dict[str, WindowResult]) -> None:
    degraded = windows["degraded"]
    assert _status(degraded, "performance/roc_auc") == "fail"
    [auc] = [o for o in degraded.outcomes if o.check_id == "performance/roc_auc"]
    assert auc.threshold is not None and auc.threshold.source == "baseline"
    assert auc.value is not None and auc.threshold.lower is not None
    assert auc.value < auc.threshold.lower


def test_metric_names_follow_the_contract(windows: dict[str, WindowResult]) -> None:
    names = {m.name for m in windows["stable"].metrics}
    expected = {
        "perf/roc_auc",
        "perf/f1",
        "drift/share_drifted",
        "drift/contract/jensenshannon",
        "drift/monthly_charges/wasserstein",
        "drift/churn_score/wasserstein",
        "quality/age/missing_share",
        "segment/region=north/roc_auc",
    }
    assert expected <= names


def test_results_are_strict_json_and_round_trip(windows: dict[str, WindowResult]) -> None:
    result = windows["drifted"]
    body = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert body["health"] == "warning"
    assert body["rows"] == 3000
    assert body["model_version"] == "3"
    assert WindowResults.from_dict(body).outcomes == result.outcomes


def _without_labels(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    if how == "dropped":
        return frame.drop(columns=["churned"])
    return frame.assign(churned=np.nan)


@pytest.mark.parametrize("how", ["dropped", "all-missing"])
def test_window_without_labels_is_not_evaluated_partial_and_refused_by_the_gate(
    spec: MonitorSpec, baseline: Baseline, model: object, how: str
) -> None:
    scored = demo.score(model, demo.make_churn(2000, seed=9))
    labelled = evaluate_window(spec, baseline, scored)
    result = evaluate_window(spec, baseline, _without_labels(scored, how))
    perf = [o for o in result.outcomes if o.kind == "performance" and o.basis == "measured"]
    assert perf and {o.status for o in perf} == {"not_evaluated"}
    assert all("no labels in the window" in o.message for o in perf)
    estimated = [o for o in result.outcomes if o.basis == "estimated"]  # judged on CBPE
    assert {o.check_id for o in estimated} == {o.check_id for o in perf}
    assert not any(m.name.startswith("perf/") for m in result.metrics)
    segments = [o for o in result.outcomes if o.kind == "segment"]
    assert segments and {o.status for o in segments} == {"not_evaluated"}
    # health counts fail/warn/error only: the same as the labelled window's, but partial
    assert result.health == labelled.health == "healthy"
    assert result.partial and not labelled.partial
    assert WindowResults.from_dict(json.loads(json.dumps(result.to_dict()))).partial
    state = VersionState(
        model="churn",
        version="3",
        health=result.health,
        health_reason=None,
        last_checked=datetime.now(timezone.utc) - timedelta(hours=1),
        last_run_id="run-unlabelled",
        baseline_run_id="run-base",
        baseline_present=True,
        card_present=True,
        outcomes=result.outcomes,
    )
    now = datetime.now(timezone.utc)
    refused = decide(state, GateSpec(), alias="champion", now=now)
    assert not refused.granted
    assert [r.split(" was not evaluated: ")[0] for r in refused.reasons] == [
        "performance/recall",
        "performance/roc_auc",
    ]
    assert all("was not evaluated: no labels in the window" in r for r in refused.reasons)
    granted = decide(
        VersionState(**{**state.__dict__, "outcomes": labelled.outcomes}),
        GateSpec(),
        alias="champion",
        now=now,
    )
    assert granted.granted, granted.reasons


def test_window_end_defaults_to_the_last_timestamp(
    spec: MonitorSpec, baseline: Baseline, model: object
) -> None:
    frame = demo.score(model, demo.make_churn(500, seed=11))
    result = evaluate_window(spec, baseline, frame)
    last = pd.Timestamp(frame["event_time"].max()).floor("us").to_pydatetime()
    assert result.window_end == last.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    given = datetime(2025, 2, 1, tzinfo=timezone.utc)
    assert evaluate_window(spec, baseline, frame, window_end=given).window_end == (
        "2025-02-01T00:00:00Z"
    )


def test_segment_and_performance_outcomes_carry_interval_and_baseline(
    spec: MonitorSpec, windows: dict[str, WindowResult]
) -> None:
    degraded = windows["degraded"]
    assert degraded.segments is not None
    assert degraded.segments.level == spec.confidence_level
    assert degraded.segments.min_class_size == spec.segments.min_class_size
    segments = [o for o in degraded.outcomes if o.kind == "segment"]
    assert segments and all(o.interval is not None and o.baseline is not None for o in segments)
    assert {o.status for o in segments} <= {"warn", "pass", "insufficient_data"}
    assert any(o.status == "warn" and "drop" in o.message for o in segments)
    [auc] = [o for o in degraded.outcomes if o.check_id == "performance/roc_auc"]
    assert auc.interval is not None and auc.interval.method == "delong"
    assert auc.interval.denominator == 3000 and auc.baseline is not None
    assert f"baseline {auc.baseline:.4g}, allowed >= " in auc.message


def test_drift_min_effect_and_confidence_level_come_from_the_spec(
    spec: MonitorSpec, baseline: Baseline, model: object
) -> None:
    [(_, frame)] = [(p, f) for p, f in demo.demo_windows(3000) if p.name == "drifted"]
    scored = demo.score(model, frame)

    def judged(min_effect: float) -> WindowResult:
        drift = spec.drift.model_copy(update={"method": "ks", "min_effect": min_effect})
        changed = spec.model_copy(update={"drift": drift, "confidence_level": 0.9})
        return evaluate_window(changed, baseline, scored)

    plain, strict = judged(0.0), judged(0.9)
    charges = [plain.drift.get("monthly_charges"), strict.drift.get("monthly_charges")]
    assert [c.method for c in charges] == ["ks", "ks"]
    assert charges[0].significant and charges[1].significant
    assert (charges[0].drifted, charges[1].drifted) == (True, False)  # D ~0.3: below 0.9
    [outcome] = [o for o in strict.outcomes if o.check_id == "drift/monthly_charges"]
    assert outcome.evidence["min_effect"] == 0.9 and ", D=" in outcome.message
    assert strict.segments is not None and plain.segments is not None
    assert sum(r.share_drifted or 0 for r in strict.segments.results) < sum(
        r.share_drifted or 0 for r in plain.segments.results
    )
    levels = {o.interval.level for o in strict.outcomes if o.kind == "segment" and o.interval}
    judged = [o for o in strict.outcomes if o.kind == "segment" and o.interval]
    assert levels == {1 - 0.1 / len(judged)}  # 90% for the segments together (Bonferroni)

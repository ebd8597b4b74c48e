"""Windows without labels judged on estimates (CBPE/DLE): marked, capped, checked by labels."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.contract import WindowResults
from mlflow_monitor.datasets import churn
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.verdicts.baseline_model import Baseline, build_baseline_from_frame
from mlflow_monitor.verdicts.estimated_checks import EstimationModel, _impute
from mlflow_monitor.verdicts.evaluation import evaluate_window


def _spec(**changes: object) -> MonitorSpec:
    body = yaml.safe_load(churn.churn_spec_yaml())
    body.pop("card")
    body["columns"]["protected"] = ["gender"]
    body["fairness"]["policies"] = ["four_fifths_rule", "equal_opportunity"]
    body.update(changes)
    return parse_spec(body)


@pytest.fixture(scope="module")
def story() -> dict[str, object]:
    train = churn.make_churn(6000, seed=1, start=churn.START - timedelta(days=28), days=21)
    model = churn.train_churn_model(train)
    spec = _spec()
    baseline = build_baseline_from_frame(spec, churn.score(model, churn.make_churn(4000, seed=2)))
    pool = churn.score(model, churn.make_churn(40000, seed=7))
    # covariate shift: new month-to-month customers only, where the model ranks worse
    shifted = pool[(pool["contract"] == "month-to-month") & (pool["tenure_months"] < 15)]
    return {
        "spec": spec,
        "model": model,
        "baseline": baseline,
        "stable": pool.head(4000),
        "shifted": shifted.head(4000).reset_index(drop=True),
    }


def _estimated(result: WindowResults) -> dict[str, object]:
    return {o.check_id: o for o in result.outcomes if o.basis == "estimated"}


def test_the_baseline_keeps_its_calibrators_through_json(story: dict[str, object]) -> None:
    baseline = story["baseline"]
    assert isinstance(baseline, Baseline) and baseline.estimation is not None
    assert baseline.estimation.calibrator is not None
    assert set(baseline.estimation.groups) == {"gender"}
    body = json.loads(json.dumps(baseline.to_dict()))
    again = Baseline.from_dict(body, sample=baseline.sample)
    assert again.estimation == EstimationModel.from_dict(body["estimation"])
    assert (
        again.estimation is not None
        and again.estimation.calibrator == baseline.estimation.calibrator
    )


def test_a_degrading_window_without_labels_is_no_longer_healthy_and_labels_confirm_it(
    story: dict[str, object],
) -> None:
    spec, baseline, window = story["spec"], story["baseline"], story["shifted"]
    blind = evaluate_window(spec, baseline, window.drop(columns=["churned"]))  # type: ignore[arg-type, union-attr]
    seen = evaluate_window(spec, baseline, window)  # type: ignore[arg-type]
    estimated = _estimated(blind)
    auc = estimated["performance/roc_auc"]
    assert auc.status == "warn" and auc.severity == "warning"  # critical check, capped
    assert auc.message.startswith("estimated before labels (cbpe): ")
    assert auc.interval is not None and auc.interval.method == "cbpe"
    assert blind.health != "healthy" and blind.partial  # the measured twin is not evaluated
    measured = {o.check_id: o for o in blind.outcomes if o.basis == "measured"}
    assert measured["performance/roc_auc"].status == "not_evaluated"
    realized = {o.check_id: o for o in seen.outcomes if o.basis == "measured"}
    assert realized["performance/roc_auc"].status == "fail"
    assert abs(auc.value - realized["performance/roc_auc"].value) < 0.04  # type: ignore[operator]
    metrics = {m.name: m.value for m in blind.metrics}
    assert metrics["perf_est/roc_auc"] == pytest.approx(auc.value)
    assert "perf/roc_auc" not in metrics and "fairness_est/gender=female/tpr" in metrics
    assert "segment_est/region=north/tpr" in metrics  # segments estimated too
    assert blind.to_dict()["estimation"]["judged"] is True


def test_a_labelled_window_is_judged_on_labels_and_logs_the_estimation_error(
    story: dict[str, object],
) -> None:
    result = evaluate_window(story["spec"], story["baseline"], story["stable"])  # type: ignore[arg-type]
    assert not _estimated(result)
    metrics = {m.name: m.value for m in result.metrics}
    error = metrics["perf_est_error/roc_auc"]
    assert error == pytest.approx(metrics["perf_est/roc_auc"] - metrics["perf/roc_auc"], abs=0.02)
    assert abs(error) < 0.03
    assert result.to_dict()["estimation"]["judged"] is False


def test_the_cap_follows_the_spec_and_estimation_can_be_switched_off(
    story: dict[str, object],
) -> None:
    window = story["shifted"].drop(columns=["churned"])  # type: ignore[union-attr]
    loud = _spec(estimation={"max_severity": "critical"})
    result = evaluate_window(loud, story["baseline"], window)  # type: ignore[arg-type]
    assert _estimated(result)["performance/roc_auc"].status == "fail"
    off = _spec(estimation={"enabled": False})
    quiet = evaluate_window(off, story["baseline"], window)  # type: ignore[arg-type]
    assert not _estimated(quiet) and not any(m.name.startswith("perf_est") for m in quiet.metrics)


def test_an_estimate_outside_the_reference_never_fires(story: dict[str, object]) -> None:
    spec, baseline = story["spec"], story["baseline"]
    window = story["shifted"].drop(columns=["churned"]).copy()  # type: ignore[union-attr]
    window["churn_score"] = 0.999  # scores the reference never had: the calibration says nothing
    window["prediction"] = 1
    result = evaluate_window(spec, baseline, window)  # type: ignore[arg-type]
    for outcome in _estimated(result).values():
        assert outcome.status in ("pass", "insufficient_data"), outcome
        if outcome.status == "insufficient_data":
            assert "not trusted" in outcome.message


def test_label_based_fairness_rules_get_an_estimated_verdict_before_labels(
    story: dict[str, object],
) -> None:
    window = story["stable"].drop(columns=["churned"])  # type: ignore[union-attr]
    result = evaluate_window(story["spec"], story["baseline"], window)  # type: ignore[arg-type]
    measured = {o.check_id: o.status for o in result.outcomes if o.basis == "measured"}
    rules = [o for o in _estimated(result).values() if o.check_id.startswith("policy/")]
    assert rules, "equal_opportunity needs labels: it must get an estimated verdict"
    for rule in rules:
        assert measured[rule.check_id] == "not_evaluated"
        assert rule.severity in ("info", "warning") and rule.message.startswith("estimated")
    selection = [o for o in result.outcomes if "four_fifths" in o.check_id]
    assert selection and all(o.basis == "measured" for o in selection)  # no labels needed


def test_imputed_labels_match_each_cells_expected_positives() -> None:
    rng = np.random.default_rng(0)
    probability = rng.random(5000)
    decisions = rng.random(5000) < 0.4
    cells = rng.integers(0, 3, 5000)
    positive = _impute(probability, decisions, cells)
    for cell in range(3):
        for decided in (False, True):
            hit = (cells == cell) & (decisions == decided)
            assert positive[hit].sum() == round(probability[hit].sum())
            if positive[hit].any() and (~positive[hit]).any():  # the most probable rows first
                assert (
                    probability[hit][positive[hit]].min() >= probability[hit][~positive[hit]].max()
                )


def test_a_regressor_is_estimated_with_a_loss_model_from_the_baseline_sample() -> None:
    rng = np.random.default_rng(3)

    def frame(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        truth = 2 * x + rng.normal(0, 0.5 + np.abs(x), n)
        return pd.DataFrame({"x": x, "truth": truth, "pred": 2 * x})

    spec = parse_spec(
        {
            "task": "regression",
            "columns": {"target": "truth", "prediction": "pred", "numerical": ["x"]},
            "performance": {"checks": [{"metric": "mae", "max_rise": 0.2, "relative": True}]},
        }
    )
    baseline = build_baseline_from_frame(spec, frame(3000, 0.0))
    window = frame(3000, 1.0)  # larger |x|: larger errors, visible without labels
    blind = evaluate_window(spec, baseline, window.drop(columns=["truth"]))
    seen = evaluate_window(spec, baseline, window)
    mae = _estimated(blind)["performance/mae"]
    realized = {m.name: m.value for m in seen.metrics}["perf/mae"]
    assert mae.status == "warn" and mae.interval is not None and mae.interval.method == "dle"
    assert abs(mae.value - realized) / realized < 0.1  # type: ignore[operator]


def test_a_gate_never_passes_on_an_estimate(story: dict[str, object]) -> None:
    from datetime import datetime, timezone

    from mlflow_monitor.spec import GateSpec
    from mlflow_monitor.verdicts.promotion import VersionState, decide

    window = story["stable"].drop(columns=["churned"])  # type: ignore[union-attr]
    result = evaluate_window(story["spec"], story["baseline"], window)  # type: ignore[arg-type]
    assert _estimated(result)["performance/roc_auc"].status == "pass"
    now = datetime.now(timezone.utc)
    state = VersionState("churn", "3", "healthy", None, now, "r", "b", True, True, result.outcomes)
    gate = GateSpec(must_pass=["performance/roc_auc"], max_age=None)
    decision = decide(state, gate, alias="champion", now=now)
    assert not decision.granted
    assert any(
        "must_pass performance/roc_auc: 1 check: 1 not evaluated" in r for r in decision.reasons
    )

"""Shadow comparison (two versions on the same rows) and the ``must_beat`` gate rule. Pure."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.datasets import churn
from mlflow_monitor.spec import COMPARABLE_METRICS, BeatRule, GateSpec, parse_spec
from mlflow_monitor.stats.paired import SUPPORTED_METRICS
from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
from mlflow_monitor.verdicts.comparison import Comparison, compare_versions, judge_beat
from mlflow_monitor.verdicts.evaluation import evaluate_window
from mlflow_monitor.verdicts.promotion import VersionState, decide

NOW = datetime(2025, 3, 1, tzinfo=timezone.utc)
RULE = BeatRule(alias="champion")


def _spec() -> object:
    import yaml

    body = yaml.safe_load(churn.churn_spec_yaml())
    body.pop("card")
    body["columns"]["protected"] = ["gender"]
    return parse_spec(body)


def _noisy(frame: pd.DataFrame, noise: float, seed: int) -> pd.DataFrame:
    """The frame's scores blurred by ``noise`` (a worse model of the same rows)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    logit = np.log(out["churn_score"] / (1 - out["churn_score"]))
    blurred = 1 / (1 + np.exp(-(logit + rng.normal(0, noise, len(out)))))
    out["churn_score"] = blurred
    out["prediction"] = (blurred >= 0.5).astype(np.int64)
    return out


@pytest.fixture(scope="module")
def sides() -> dict[str, object]:
    train = churn.make_churn(3000, seed=1)
    model = churn.train_churn_model(train)
    spec = _spec()
    reference = churn.score(model, churn.make_churn(3000, seed=2))
    window = churn.score(model, churn.make_churn(4000, seed=3))
    baseline = build_baseline_from_frame(spec, reference)  # type: ignore[arg-type]
    worse = _noisy(window, 2.5, seed=4)
    results = {
        name: evaluate_window(spec, baseline, frame)  # type: ignore[arg-type]
        for name, frame in (("strong", window), ("weak", worse))
    }
    return {
        "spec": spec,
        "strong": window,
        "weak": worse,
        **{f"r_{k}": v for k, v in results.items()},
    }


def _compare(sides: dict[str, object], ours: str, theirs: str) -> Comparison:
    return compare_versions(
        sides["spec"],  # type: ignore[arg-type]
        challenger_frame=sides[ours],  # type: ignore[arg-type]
        champion_frame=sides[theirs],  # type: ignore[arg-type]
        challenger=sides[f"r_{ours}"],  # type: ignore[arg-type]
        champion=sides[f"r_{theirs}"],  # type: ignore[arg-type]
        against="@champion",
        against_version="1",
        against_uri="models:/churn-classifier/1",
    )


def test_the_comparison_holds_both_sides_and_a_paired_test_per_metric(
    sides: dict[str, object],
) -> None:
    comparison = _compare(sides, "strong", "weak")
    methods = {t.metric: t.method for t in comparison.paired}
    assert methods["roc_auc"] == "paired_delong" and methods["accuracy"] == "mcnemar"
    assert set(methods) == set(COMPARABLE_METRICS["binary_classification"])
    auc = comparison.test("roc_auc")
    assert auc is not None and auc.improvement > 0.03 and auc.n == 4000
    sides_auc = comparison.performance["roc_auc"]
    assert sides_auc["challenger"]["value"] == pytest.approx(auc.challenger)  # type: ignore[index]
    assert sides_auc["champion"]["value"] == pytest.approx(auc.champion)  # type: ignore[index]
    assert sides_auc["champion"]["low"] < auc.champion < sides_auc["champion"]["high"]  # type: ignore[index, operator]
    groups = {(r["group"], r["metric"]) for r in comparison.fairness}
    assert ("female", "tpr") in groups and ("male", "selection_rate") in groups
    names = {m.name for m in comparison.metrics()}
    assert {"compare/champion/perf/roc_auc", "compare/champion/improvement/roc_auc"} <= names
    again = Comparison.from_dict(comparison.to_dict())
    assert again.to_dict() == comparison.to_dict()


def test_without_labels_there_is_no_paired_test_and_must_beat_is_not_judged(
    sides: dict[str, object],
) -> None:
    unlabelled = {**sides, "strong": sides["strong"].drop(columns=["churned"])}  # type: ignore[attr-defined]
    comparison = _compare(unlabelled, "strong", "weak")
    assert comparison.paired == () and comparison.labelled == 0
    judged = judge_beat(comparison, rule=RULE, metric="roc_auc", holder="1", level=0.95)
    assert not judged.beats and "not judged" in judged.reason and "no labels" in judged.reason


def test_must_beat_grants_a_better_challenger_and_refuses_a_worse_one(
    sides: dict[str, object],
) -> None:
    better = judge_beat(
        _compare(sides, "strong", "weak"), rule=RULE, metric="roc_auc", holder="1", level=0.95
    )
    worse = judge_beat(
        _compare(sides, "weak", "strong"), rule=RULE, metric="roc_auc", holder="1", level=0.95
    )
    assert better.beats and better.evidence["lower_bound"] > 0  # type: ignore[operator]
    assert not worse.beats and worse.evidence["improvement"] < 0  # type: ignore[operator]
    assert "must_beat @champion on roc_auc" in worse.reason and "paired_delong" in worse.reason


def test_a_margin_asks_for_more_and_a_negative_one_allows_a_loss(sides: dict[str, object]) -> None:
    comparison = _compare(sides, "strong", "weak")
    gain = comparison.test("roc_auc")
    assert gain is not None
    above = BeatRule(alias="champion", margin=gain.improvement + 0.01)
    assert not judge_beat(comparison, rule=above, metric="roc_auc", holder="1", level=0.95).beats
    reverse = _compare(sides, "weak", "strong")
    loss = reverse.test("roc_auc")
    assert loss is not None
    lenient = BeatRule(alias="champion", margin=loss.improvement - 0.05)
    assert judge_beat(reverse, rule=lenient, metric="roc_auc", holder="1", level=0.95).beats


def test_must_beat_refuses_a_missing_or_stale_comparison_and_passes_without_a_holder(
    sides: dict[str, object],
) -> None:
    comparison = _compare(sides, "strong", "weak")
    nothing = judge_beat(None, rule=RULE, metric="roc_auc", holder="1", level=0.95)
    assert not nothing.beats and "--compare @champion" in nothing.reason
    stale = judge_beat(comparison, rule=RULE, metric="roc_auc", holder="7", level=0.95)
    assert not stale.beats and "version 7 now" in stale.reason
    free = judge_beat(None, rule=RULE, metric="roc_auc", holder=None, level=0.95)
    assert free.beats and "nothing to beat" in free.reason
    held = judge_beat(None, rule=RULE, metric="roc_auc", holder="1", level=0.95, version="1")
    assert held.beats and "already holds @champion" in held.reason


def test_the_gate_refuses_on_must_beat_and_says_why() -> None:
    state = VersionState("m", "2", "healthy", None, NOW, "r", "b", True, True, ())
    gate = GateSpec(must_beat=RULE, max_age=None)
    assert "not judged" in decide(state, gate, alias="champion", now=NOW).reasons[0]
    free = judge_beat(None, rule=RULE, metric="roc_auc", holder=None, level=0.95)
    assert decide(state, gate, alias="champion", now=NOW, beat=free).granted


def test_the_spec_reads_must_beat_and_refuses_metrics_no_paired_test_compares() -> None:
    from mlflow_monitor.errors import SpecError

    base = {"model": "m", "task": "binary_classification", "columns": {"prediction": "p"}}
    spec = parse_spec({**base, "gates": {"champion": {"must_beat": "@champion"}}})
    assert spec.gates["champion"].must_beat == BeatRule(alias="champion")
    with pytest.raises(SpecError, match=r"gates\.champion\.must_beat\.metric: 'roc_auc' needs"):
        parse_spec(
            {**base, "gates": {"champion": {"must_beat": {"alias": "a", "metric": "roc_auc"}}}}
        )
    with pytest.raises(SpecError, match="cannot be compared by a paired test"):
        parse_spec({**base, "gates": {"champion": {"must_beat": {"alias": "a", "metric": "mape"}}}})


def test_the_spec_lists_the_metrics_the_paired_tests_compute() -> None:
    for task, names in COMPARABLE_METRICS.items():
        assert set(names) == set(SUPPORTED_METRICS[task]), task

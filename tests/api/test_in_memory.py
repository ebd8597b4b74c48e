"""The in-memory API: specs, baselines and windows from DataFrames; every mistake is one line."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import mlflow_monitor as mm
from mlflow_monitor import datasets


@pytest.fixture(scope="module")
def story() -> tuple[mm.MonitorSpec, pd.DataFrame, dict[str, pd.DataFrame]]:
    train = datasets.make_churn(3000, seed=1, start=datasets.START - timedelta(days=28), days=21)
    model = datasets.train_churn_model(train)
    reference = datasets.score(model, datasets.make_churn(3000, seed=2))
    windows = {
        plan.name: datasets.score(model, frame) for plan, frame in datasets.demo_windows(2000)
    }
    body = yaml.safe_load(datasets.churn_spec_yaml())
    del body["model"], body["card"]  # pure evaluation needs neither
    return mm.make_spec(**body), reference, windows


@pytest.fixture(scope="module")
def baseline(story: tuple[mm.MonitorSpec, pd.DataFrame, dict[str, pd.DataFrame]]) -> mm.Baseline:
    spec, reference, _ = story
    return mm.build_baseline(spec=spec, reference=reference)


def test_windows_get_their_expected_health_and_export(
    story: tuple[mm.MonitorSpec, pd.DataFrame, dict[str, pd.DataFrame]], baseline: mm.Baseline
) -> None:
    spec, _, windows = story
    expected = {plan.name: plan.expected for plan, _ in datasets.demo_windows(10)}
    for name, frame in windows.items():
        result = mm.evaluate(spec=spec, baseline=baseline, current=frame, model="churn", version=2)
        assert result.health == expected[name], name
        table = result.to_frame()
        assert len(table) == len(result.outcomes)
        firing = table["status"].isin(["warn", "fail", "error"])
        assert not firing.iloc[int(firing.sum()) :].any()  # findings first
        body = result.to_dict()
        assert (body["model"], body["model_version"]) == ("churn", "2")
        assert len(repr(result)) < 300 and result.health in repr(result)
        view = result._repr_html_()
        assert expected[name] in view and "Findings" in view
    assert len(repr(baseline)) < 200 and "<table" in baseline._repr_html_()


def test_a_result_saves_as_a_page(
    story: tuple[mm.MonitorSpec, pd.DataFrame, dict[str, pd.DataFrame]],
    baseline: mm.Baseline,
    tmp_path: Path,
) -> None:
    spec, _, windows = story
    result = mm.evaluate(spec=spec, baseline=baseline, current=windows["drifted"])
    page = result.save_html(tmp_path / "window.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and result._repr_html_() in page
    assert f"<title>window {result.window_end}: warning</title>" in page


def test_window_bounds_cut_the_rows(
    story: tuple[mm.MonitorSpec, pd.DataFrame, dict[str, pd.DataFrame]], baseline: mm.Baseline
) -> None:
    spec, _, windows = story
    frame = windows["stable"]
    stamps = pd.to_datetime(frame["event_time"], utc=True)
    middle = stamps.min() + (stamps.max() - stamps.min()) / 2
    result = mm.evaluate(
        spec=spec, baseline=baseline, current=frame, window_start=middle.isoformat()
    )
    assert result.rows == int((stamps >= middle).sum())
    with pytest.raises(mm.DataError, match=r"the window DataFrame: the window is empty"):
        mm.evaluate(
            spec=spec,
            baseline=baseline,
            current=frame,
            window_start=datetime(2030, 1, 1, tzinfo=timezone.utc),
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["region"]), r"missing column 'region' \(columns.categorical\)"),
        (
            lambda f: f.assign(prediction=np.nan),
            r"columns.prediction 'prediction': missing in every row",
        ),
        (
            lambda f: f.assign(age=[{"a": 1}] * len(f)),
            r"column 'age' \(columns.numerical\) is declared numerical",
        ),
        (lambda f: f.iloc[:0], r"the window DataFrame: the window is empty \(0 rows\)"),
        (lambda f: f.to_dict("records"), r"expected a pandas DataFrame, got list"),
    ],
)
def test_bad_window_is_one_line_naming_the_column(
    story: tuple[mm.MonitorSpec, pd.DataFrame, dict[str, pd.DataFrame]],
    baseline: mm.Baseline,
    change: object,
    message: str,
) -> None:
    spec, _, windows = story
    with pytest.raises(mm.DataError, match=message) as raised:
        mm.evaluate(spec=spec, baseline=baseline, current=change(windows["stable"]))  # type: ignore[operator]
    assert "\n" not in str(raised.value)


def test_other_mistakes_are_named(
    story: tuple[mm.MonitorSpec, pd.DataFrame, dict[str, pd.DataFrame]], baseline: mm.Baseline
) -> None:
    spec, reference, windows = story
    frame = windows["stable"]
    with pytest.raises(mm.DataError, match=r"window_start .* is not before window_end"):
        mm.evaluate(spec=spec, baseline=baseline, current=frame,
                    window_start="2025-02-01", window_end="2025-01-01")  # fmt: skip
    with pytest.raises(mm.DataError, match=r"window_end: not an ISO 8601 time"):
        mm.evaluate(spec=spec, baseline=baseline, current=frame, window_end="next week")
    with pytest.raises(mm.DataError, match=r"baseline: expected a Baseline .* got DataFrame"):
        mm.evaluate(spec=spec, baseline=reference, current=frame)  # type: ignore[arg-type]
    wider = spec.model_copy(
        update={
            "columns": spec.columns.model_copy(
                update={"numerical": [*spec.columns.numerical, "extra"]}
            )
        }
    )
    with pytest.raises(
        mm.DataError, match=r"column 'extra' is in the spec but not in the baseline"
    ):
        mm.evaluate(spec=wider, baseline=baseline, current=frame.assign(extra=1.0))
    with pytest.raises(TypeError, match="positional"):
        mm.evaluate(spec, baseline, frame)  # type: ignore[misc]


def test_make_spec_takes_every_key_of_the_spec() -> None:
    """A spec written as YAML can be written in Python: every top-level key is a parameter."""
    assert set(inspect.signature(mm.make_spec).parameters) == set(mm.MonitorSpec.model_fields)
    spec = mm.make_spec(
        task="binary_classification",
        columns={"target": "y", "prediction": "p", "numerical": ["a"]},
        engine="spark",
        slos=[{"name": "fresh", "objective": "freshness", "max_gap": "26h", "target": 0.99}],
    )
    assert spec.engine == "spark" and [s.name for s in spec.slos] == ["fresh"]
    assert mm.make_spec(**yaml.safe_load(spec.to_yaml())) == spec


def test_specs_in_python() -> None:
    spec = mm.make_spec(task="regression", columns={"prediction": "p", "numerical": ["a"]})
    assert spec.model == "" and spec.to_yaml(minimal=True).splitlines()[0] == "task: regression"
    assert "numerical" in spec._repr_html_()
    with pytest.raises(mm.SpecError, match=r"make_spec: unknown key 'drift.methd'"):
        mm.make_spec(task="regression", columns={"prediction": "p"}, drift={"methd": "psi"})
    with pytest.raises(mm.SpecError, match=r"positive_label: fairness on a multiclass task"):
        mm.make_spec(
            task="multiclass_classification",
            columns={"prediction": "p", "probabilities": ["a", "b"], "protected": ["g"]},
        )
    with pytest.raises(mm.SpecError, match=r"model: names no registered model"):
        spec.require_model()

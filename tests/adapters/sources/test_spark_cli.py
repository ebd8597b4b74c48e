"""``mlflow-monitor run --engine spark``: monitor.ipynb judges the window with the Spark engine.

Real MLflow (SQLite in tmp_path), papermill executing the shipped notebook, a local[2] Spark
session in the notebook's kernel; the same window run with the pandas engine is the reference.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.baseline_files import load_baseline
from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
from mlflow_monitor.cli import main
from mlflow_monitor.spec import load_spec
from mlflow_monitor.workflows import demo
from mlflow_monitor.workflows.build_baseline import build_baseline

pytestmark = pytest.mark.integration

SPEC = """\
model: churn-classifier
task: binary_classification
positive_label: 1
engine: {engine}
columns:
  id: customer_id
  timestamp: event_time
  target: churned
  prediction: prediction
  score: churn_score
  numerical: [tenure_months, monthly_charges, support_calls, age]
  categorical: [contract, payment_method, region]
estimation: {{enabled: false}}
sampling: {{report_rows: 500}}
"""


def _cli(*args: str) -> str:
    done = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    return done.stdout


def _results(uri: str, run_id: str, folder: Path) -> dict[str, object]:
    path = MlflowClient(uri).download_artifacts(run_id, "results.json", str(folder))
    return json.loads(Path(path).read_text())


def test_run_with_the_spark_engine_gives_the_pandas_verdict(
    tracking_uri: str, tmp_path: Path
) -> None:
    train = demo.make_churn(3000, seed=1, start=demo.START - timedelta(days=28), days=21)
    model = demo.train_churn_model(train)
    reference = tmp_path / "reference.parquet"
    demo.score(model, demo.make_churn(3000, seed=2)).to_parquet(reference, index=False)
    plan, frame = next(iter(demo.demo_windows(2000)))
    window = tmp_path / "window.parquet"
    demo.score(model, frame).to_parquet(window, index=False)
    spec = tmp_path / "monitor.yaml"
    spec.write_text(SPEC.format(engine="pandas"))
    version = register_sklearn_model(
        model, "churn-classifier", tracking_uri=tracking_uri, artifact_root=tmp_path / "art"
    )
    common = ("--spec", str(spec), "--version", version, "--tracking-uri", tracking_uri)
    _cli("baseline", *common, "--reference", str(reference), "--engine", "spark")
    client = MlflowClient(tracking_uri)
    baseline_run = client.get_model_version("churn-classifier", version).tags[
        "monitor.baseline_run_id"
    ]
    folder = client.download_artifacts(baseline_run, "baseline", str(tmp_path / "baseline"))
    in_spark = load_baseline(folder)
    assert any("Spark engine" in note for note in in_spark.notes)
    in_pandas = build_baseline(load_spec(spec), reference)
    assert in_spark.profile.to_dict() == in_pandas.profile.to_dict()
    bounds = (
        "--window-start", plan.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--window-end", (plan.start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )  # fmt: skip
    runs = {}
    for engine in ("pandas", "spark"):
        _cli("run", *common, "--current", str(window), *bounds, "--engine", engine)
        tags = MlflowClient(tracking_uri).get_model_version("churn-classifier", version).tags
        runs[engine] = _results(tracking_uri, tags["monitor.last_run_id"], tmp_path / engine)
    pandas, spark = runs["pandas"], runs["spark"]
    by_spark = "statistics computed by the Spark engine"
    assert any(by_spark in note for note in spark["notes"])  # type: ignore[union-attr]
    assert not any(by_spark in note for note in pandas["notes"])  # type: ignore[union-attr]
    assert (spark["health"], spark["rows"]) == (pandas["health"], pandas["rows"])
    outcomes = [(o["check_id"], o["status"]) for o in pandas["outcomes"]]  # type: ignore[index,union-attr]
    assert [(o["check_id"], o["status"]) for o in spark["outcomes"]] == outcomes  # type: ignore[index,union-attr]


def test_attach_baseline_and_monitor_take_spark_dataframes(
    tracking_uri: str, tmp_path: Path
) -> None:
    """``mm.attach_baseline``/``mm.monitor`` with Spark DataFrames: the Spark engine, logged."""
    import mlflow_monitor as mm
    from mlflow_monitor.adapters.sources.spark import spark_session

    train = demo.make_churn(2000, seed=1, start=demo.START - timedelta(days=28), days=21)
    model = demo.train_churn_model(train)
    plan, frame = next(iter(demo.demo_windows(1500)))
    session = spark_session()
    reference = session.createDataFrame(demo.score(model, demo.make_churn(2000, seed=2)))
    window = session.createDataFrame(demo.score(model, frame))
    spec = mm.make_spec(**yaml.safe_load(SPEC.format(engine="pandas")))
    version = register_sklearn_model(
        model, "churn-classifier", tracking_uri=tracking_uri, artifact_root=tmp_path / "art"
    )
    attached = mm.attach_baseline(
        spec=spec, version=version, reference=reference, tracking_uri=tracking_uri
    )
    assert attached.rows == 2000
    done = mm.monitor(
        spec=spec,
        version=version,
        current=window,
        window_start=plan.start,
        window_end=plan.start + timedelta(days=7),
        tracking_uri=tracking_uri,
    )
    results = _results(tracking_uri, done.run_id, tmp_path / "results")
    assert any("statistics computed by the Spark engine" in n for n in results["notes"])  # type: ignore[union-attr]
    assert results["rows"] == frame.loc[
        (frame["event_time"] >= plan.start) & (frame["event_time"] < plan.start + timedelta(days=7))
    ].shape[0]
    assert done.health == results["health"] and done.health in ("healthy", "warning", "critical")

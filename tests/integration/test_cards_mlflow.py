"""Model cards on real MLflow, filled by a real baseline and monitoring run (papermill included)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mlflow_monitor import demo, monitor
from mlflow_monitor.cards import refresh_card
from mlflow_monitor.cli import main
from mlflow_monitor.registry.cards import CARD_END, CARD_START
from mlflow_monitor.spec import load_spec

pytestmark = pytest.mark.integration

MODEL = "card-demo"
USER_TEXT = "Owned by retention analytics.\n\nData contract: ticket ML-7."
SECTIONS = [
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
    "Monitoring",
]


@dataclass(frozen=True)
class Monitored:
    uri: str
    root: Path
    spec: Path
    baseline_run: str
    window_run: str


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Monitored:
    """The demo's churn model, spec (gender protected, four-fifths rule, card.yaml) and data:
    baseline + one stable window."""
    root = tmp_path_factory.mktemp("cards")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    spec = demo.write_demo_spec(root / "monitor.yaml", model=MODEL)

    model = demo.train_churn_model(demo.make_churn(3000, seed=1, start=demo.START))
    reference = demo.score(model, demo.make_churn(2000, seed=2, start=demo.START))
    reference.to_parquet(root / "reference.parquet", index=False)
    features = reference[demo.NUMERICAL + demo.CATEGORICAL].head(20)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("training", artifact_location=(root / "art").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_params({"learning_rate": 0.1})
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            signature=mlflow.models.infer_signature(features, model.predict(features)),
            pip_requirements=["scikit-learn"],
        )
    client = MlflowClient(uri, uri)
    client.create_registered_model(MODEL)
    client.create_model_version(
        MODEL, info.model_uri, run_id=run.info.run_id, description=USER_TEXT
    )
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]

    baseline = monitor.build_baseline_run(spec, "1", root / "reference.parquet", tracking_uri=uri)
    plan, frame = demo.demo_windows(1500)[0]
    window = root / "window.parquet"
    demo.score(model, frame).to_parquet(window, index=False)
    result = monitor.run_window(
        spec,
        "1",
        window,
        tracking_uri=uri,
        window_start=plan.start,
        window_end=plan.start + timedelta(days=7),
    )
    return Monitored(uri, root, spec, baseline.run_id, result.run_id)


def artifact_text(m: Monitored, run_id: str, name: str) -> str:
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=name, dst_path=str(m.root / "dl" / run_id), tracking_uri=m.uri
    )
    return Path(path).read_text()


def test_card_attached_to_baseline_and_window_runs_with_every_section(monitored: Monitored) -> None:
    card = artifact_text(monitored, monitored.baseline_run, "model_card.md")
    assert card == artifact_text(monitored, monitored.window_run, "model_card.md")
    html = artifact_text(monitored, monitored.baseline_run, "model_card.html")
    for section in SECTIONS:
        assert f"\n## {section}\n" in card and f">{section}</h2>" in html
    assert "**Owners:** Retention analytics <retention-ml@example.com>" in card
    assert "Retention analytics &lt;retention-ml@example.com&gt;" in html
    assert "tenure_months: double" in card  # the logged signature
    assert "| learning_rate | 0.1 |" in card  # the source run's parameters
    assert "Baseline reference: 2,000 rows" in card


def test_disaggregated_tables_and_monitoring_section(monitored: Monitored) -> None:
    card = artifact_text(monitored, monitored.window_run, "model_card.md")
    quantitative = card.split("## Quantitative analyses")[1].split("## Ethical")[0]
    assert "### gender (protected attribute)" in quantitative
    for group in ("female", "male"):
        row = next(ln for ln in quantitative.splitlines() if ln.startswith(f"| {group} |"))
        assert " → " in row  # reference → latest window
    assert "### region (segment)" in quantitative and "### contract (segment)" in quantitative
    assert (
        "| roc_auc |" in quantitative.split("### region")[1].splitlines()[2]
        or "roc_auc" in quantitative.split("### region")[1].splitlines()[2]
    )
    monitoring = card.split("## Monitoring")[1]
    assert "- **Current health:** healthy" in monitoring
    trend = [ln for ln in monitoring.splitlines() if monitored.window_run in ln]
    assert len(trend) == 1 and "| healthy |" in trend[0]
    assert "perf/roc_auc" in monitoring
    assert "policy/four_fifths_rule/selection_rate_impact_ratio/gender=female" in monitoring
    assert "Policy status:** passing" in monitoring


def test_description_keeps_the_users_text_on_refresh(monitored: Monitored) -> None:
    client = MlflowClient(monitored.uri, monitored.uri)
    description = client.get_model_version(MODEL, "1").description
    assert description.startswith(USER_TEXT)
    assert description.count(CARD_START) == 1 and description.count(CARD_END) == 1
    assert "Health: **healthy**" in description

    edited = description.replace("ticket ML-7", "ticket ML-8") + "\n\nReviewed 2025-03."
    client.update_model_version(MODEL, "1", description=edited)
    refreshed = refresh_card(
        load_spec(monitored.spec),
        MODEL,
        "1",
        None,
        tracking_uri=monitored.uri,
        card_dir=monitored.root,
    )
    after = client.get_model_version(MODEL, "1").description
    assert after == refreshed.description
    assert after.startswith(USER_TEXT.replace("ML-7", "ML-8"))
    assert after.endswith("Reviewed 2025-03.") and after.count(CARD_START) == 1
    assert (
        client.get_model_version(MODEL, "1").tags["monitor.card_run_id"] == monitored.baseline_run
    )


def test_card_command_renders_on_demand(monitored: Monitored, tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "card",
        "--tracking-uri",
        monitored.uri,
        "--model",
        MODEL,
        "--version",
        "1",
        "--spec",
        str(monitored.spec),
        "--out",
        str(tmp_path),
        "--no-publish",
    ]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    card = (tmp_path / "model_card.md").read_text()
    assert "Rank active customers by churn risk" in card  # the card YAML beside the spec
    assert (tmp_path / "model_card.html").read_text().startswith("<!DOCTYPE html>")
    missing = runner.invoke(main, [*args[:6], "9", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and f"{MODEL}/9 not found" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("owner: typo\n")
    wrong = runner.invoke(main, [*args, "--card", str(bad)])
    assert wrong.exit_code == 2 and "unknown key 'owner'" in wrong.output

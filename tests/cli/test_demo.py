"""``mlflow-monitor demo`` writes to the store ``MLFLOW_TRACKING_URI`` names, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mlflow_monitor.cli import main
from mlflow_monitor.contract import TAG_HEALTH, WINDOW_RUNS_FILTER, experiment_name
from mlflow_monitor.workflows.demo import MODEL_NAME

pytestmark = pytest.mark.integration


def test_demo_uses_mlflow_tracking_uri(tracking_uri: str, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(
        main,
        ["demo", "--dir", str(folder), "--rows", "600"],
        env={"MLFLOW_TRACKING_URI": tracking_uri},
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.stderr
    assert f"in the MLflow store at {tracking_uri}" in result.stdout
    assert not (folder / "mlflow.db").exists()  # not the demo's own store
    assert (folder / "data" / "window_degraded.parquet").is_file()  # its data stays in --dir
    client = MlflowClient(tracking_uri, tracking_uri)
    (version,) = client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert version.tags[TAG_HEALTH] in ("healthy", "warning", "critical")
    experiment = client.get_experiment_by_name(experiment_name(MODEL_NAME))
    assert experiment is not None
    windows = client.search_runs([experiment.experiment_id], WINDOW_RUNS_FILTER)
    assert len(windows) == 3

"""``mlflow-monitor demo`` writes to the store ``MLFLOW_TRACKING_URI`` names, and says so."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mlflow_monitor.cli import main
from mlflow_monitor.contract import (
    TAG_HEALTH,
    TAG_WINDOW_END,
    WINDOW_RUNS_FILTER,
    experiment_name,
    utc_now,
    utc_text,
)
from mlflow_monitor.workflows.demo import MODEL_NAME, recent_start

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
    # fresh verdicts: the last window ends on the latest Monday, four weekly windows after start
    end = (recent_start() + timedelta(days=28)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert version.tags[TAG_WINDOW_END] == end
    assert recent_start().weekday() == 0 and end <= utc_text(utc_now())


def test_the_demo_starts_four_weeks_before_the_latest_monday() -> None:
    saturday = datetime(2026, 11, 28, 13, 0, tzinfo=timezone.utc)
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc)
    assert recent_start(saturday) == datetime(2026, 10, 26, tzinfo=timezone.utc)
    assert recent_start(monday) == datetime(2026, 11, 2, tzinfo=timezone.utc)

"""registry/_client.py: our own artifact downloads draw no MLflow progress bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.client import quiet_downloads
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns

KEY = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
BAR = "Downloading artifacts"


def _run_with_file(uri: str, tmp_path: Path) -> str:
    client = MlflowClient(uri)
    experiment = client.create_experiment("bars", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    source = tmp_path / "results.json"
    source.write_text('{"health": "healthy"}')
    client.log_artifact(run_id, str(source))
    return run_id


def test_download_draws_no_progress_bar(
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    run_id = _run_with_file(tracking_uri, tmp_path)
    monkeypatch.delenv(KEY, raising=False)
    MlflowClient(tracking_uri).download_artifacts(run_id, "results.json", str(tmp_path / "a"))
    assert BAR in capfd.readouterr().err  # MLflow's default, for comparison

    local = MonitorRuns(tracking_uri).download(run_id, "results.json", tmp_path / "b")
    assert local.read_text() == '{"health": "healthy"}'
    assert BAR not in capfd.readouterr().err


def test_the_users_own_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv(KEY, raising=False)
    with quiet_downloads():
        assert os.environ[KEY] == "false"
    assert KEY not in os.environ
    monkeypatch.setenv(KEY, "true")
    with quiet_downloads():
        assert os.environ[KEY] == "true"
    assert os.environ[KEY] == "true"

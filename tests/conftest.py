"""Suite-wide settings: quiet, deterministic MLflow for every test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# MLflow's telemetry thread sets and unsets an environment variable concurrently with requests
# (seen as KeyError '_MLFLOW_TELEMETRY_SESSION_ID'); artifact progress bars clutter CLI output.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite MLflow store with its tables created once (MLflow's migrations take seconds)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def tracking_uri(tmp_path: Path, _empty_store: Path) -> str:
    """A fresh SQLite MLflow store in ``tmp_path`` (a copy of the empty one)."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(_empty_store, db)
    return f"sqlite:///{db}"

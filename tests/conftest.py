"""Suite-wide settings and fixtures: quiet MLflow, an empty SQLite store, an HTTP receiver."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.receiver import Receiver

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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that records what apprise delivers to it."""
    server = Receiver()
    yield server
    server.close()

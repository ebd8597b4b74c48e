"""Fixtures of the alerting tests: an HTTP receiver for apprise and a SQLite MLflow store.

Creating an MLflow SQLite store runs its migrations (8-25 s on the 2-core CI machine), so the
empty store is created once per session and copied for each test: every test still gets its own
fresh, real store.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerting.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def tracking_uri(tmp_path: Path, _empty_store: Path) -> str:
    db = tmp_path / "mlflow.db"
    shutil.copyfile(_empty_store, db)
    return f"sqlite:///{db}"

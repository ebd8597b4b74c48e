"""The same flow through a real `mlflow server` over HTTP: on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.integration.conftest import ChurnData, Server, register
from tests.integration.flow import MODEL, attach_baseline, check_window, status

pytestmark = pytest.mark.integration


def _flow(server: Server, churn: ChurnData, folder: Path) -> None:
    reg = register(server.uri, churn, folder)
    baseline_run = attach_baseline(reg)
    assert status(check_window(reg, "stable"), "performance/roc_auc") == "pass"
    degraded = check_window(reg, "degraded", exit_code=1)
    assert status(degraded, "performance/roc_auc") == "fail"
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["monitor.kind"] for r in runs) == ["baseline", "window", "window"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert baseline_run in {r.info.run_id for r in runs}


def test_flow_over_http_on_sqlite(
    start_server: Callable[[str], Server], churn: ChurnData, tmp_path: Path
) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'server.db'}")
    _flow(server, churn, tmp_path)


def test_flow_over_http_on_postgresql(
    start_server: Callable[[str], Server], churn: ChurnData, postgres_uri: str, tmp_path: Path
) -> None:
    server = start_server(postgres_uri)
    _flow(server, churn, tmp_path)

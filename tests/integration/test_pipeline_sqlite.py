"""The whole pipeline on a SQLite MLflow store: baseline, three windows, expected health, status."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from tests.integration.conftest import Registered
from tests.integration.flow import MODEL, attach_baseline, check_window, cli, status

pytestmark = pytest.mark.integration


def test_three_windows_get_the_injected_health(registered: Registered) -> None:
    first_baseline = attach_baseline(registered)

    stable = check_window(registered, "stable")
    assert status(stable, "performance/roc_auc") == "pass"
    assert status(stable, "drift/share_drifted") == "pass"

    drifted = check_window(registered, "drifted")
    assert status(drifted, "drift/monthly_charges") == "warn"
    assert status(drifted, "drift/contract") == "warn"
    assert status(drifted, "performance/roc_auc") == "pass"

    degraded = check_window(registered, "degraded", exit_code=1)  # --fail-on critical trips
    assert status(degraded, "performance/roc_auc") == "fail"
    assert status(degraded, "drift/monthly_charges") == "pass"

    table = cli("status", "--model", MODEL, "--tracking-uri", registered.uri)
    assert table.exit_code == 0
    line = next(row for row in table.stdout.splitlines() if row.startswith(MODEL))
    assert "critical" in line and "performance/roc_auc (fail)" in line
    as_json = cli("status", "--model", MODEL, "--tracking-uri", registered.uri, "--json")
    (row,) = json.loads(as_json.stdout)
    assert row["baseline_run_id"] == first_baseline and row["health"] == "critical"

    # Rebuilding the baseline moves the pointer and keeps the old run.
    second_baseline = attach_baseline(registered)
    assert second_baseline != first_baseline
    client = MlflowClient(registered.uri)
    assert client.get_run(first_baseline).info.status == "FINISHED"

"""Reading a version's past metric values back from MLflow for history thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.metric_history import metric_history

pytestmark = pytest.mark.integration
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _window_run(
    client: MlflowClient,
    experiment: str,
    version: str,
    day: int,
    value: float,
    status: str = "FINISHED",
    kind: str = "window",
) -> None:
    run = client.create_run(
        experiment, tags={"monitor.kind": kind, "monitor.model_version": version}
    )
    stamp = int((T0 + timedelta(days=day)).timestamp() * 1000)
    client.log_batch(
        run.info.run_id,
        metrics=[
            Metric("perf/accuracy", value, stamp, 0),
            Metric("segment/region=EU/accuracy".replace("=", "_"), value / 2, stamp, 0),
        ],
    )
    client.set_terminated(run.info.run_id, status)


def test_values_at_their_logged_timestamps_for_this_version_only(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("monitor/churn")
    for day in range(3):
        _window_run(client, experiment, "1", day, 0.9 - day / 100)
    _window_run(client, experiment, "1", 1, 0.5)  # the same window retried later: it wins
    _window_run(client, experiment, "2", 3, 0.1)  # another version
    _window_run(client, experiment, "1", 4, 0.2, status="FAILED")  # not trusted
    _window_run(client, experiment, "1", 5, 0.3, kind="baseline")

    found = metric_history(
        "churn",
        "1",
        ["perf/accuracy", "segment/region=EU/accuracy", "perf/absent"],
        tracking_uri=tracking_uri,
    )
    assert found["perf/accuracy"] == [
        (T0, 0.9),
        (T0 + timedelta(days=1), 0.5),
        (T0 + timedelta(days=2), 0.88),
    ]
    assert [v for _, v in found["segment/region=EU/accuracy"]] == [0.45, 0.25, 0.44]
    assert found["perf/absent"] == []


def test_a_model_without_experiment_has_no_history(tracking_uri: str) -> None:
    assert metric_history("nobody", "1", ["perf/accuracy"], tracking_uri=tracking_uri) == {
        "perf/accuracy": []
    }

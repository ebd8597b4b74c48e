"""Alert state and lease in a real MLflow store (SQLite): exclusive, released, expiring."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.alert_state import AlertStateStore
from mlflow_monitor.contract import KIND_ALERT_STATE
from mlflow_monitor.errors import RegistryError
from mlflow_monitor.verdicts.alert_plan import ChannelMark, CheckMarks

pytestmark = pytest.mark.integration
NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)


def test_only_one_holder_until_release(tracking_uri: str) -> None:
    first = AlertStateStore("churn", "1", tracking_uri=tracking_uri)
    second = AlertStateStore("churn", "1", tracking_uri=tracking_uri)
    lease = first.acquire(ttl_seconds=60, wait_seconds=0)
    assert lease is not None and lease.number == 1
    assert second.acquire(ttl_seconds=60, wait_seconds=0.5, poll_seconds=0.1) is None
    first.release(lease)
    assert not first.holds(lease)
    taken = second.acquire(ttl_seconds=60, wait_seconds=0)
    assert taken is not None and taken.number == 2 and second.holds(taken)
    assert first.run_id() == second.run_id()


def test_an_expired_lease_is_taken_over_and_its_holder_cannot_write(tracking_uri: str) -> None:
    crashed = AlertStateStore("churn", "1", tracking_uri=tracking_uri)
    stale = crashed.acquire(ttl_seconds=0.2, wait_seconds=0)
    assert stale is not None
    time.sleep(0.3)
    other = AlertStateStore("churn", "1", tracking_uri=tracking_uri)
    fresh = other.acquire(ttl_seconds=60, wait_seconds=0)
    assert fresh is not None and fresh.number == stale.number + 1
    marks = {"perf/auc": CheckMarks("perf/auc", {"chat": ChannelMark("critical", NOW)})}
    with pytest.raises(RegistryError, match="lease 1 of churn/1 was lost"):
        crashed.write(stale, marks)


def test_state_round_trips_and_cleared_checks_disappear(tracking_uri: str) -> None:
    store = AlertStateStore("churn", "2", tracking_uri=tracking_uri)
    lease = store.acquire(ttl_seconds=60, wait_seconds=0)
    assert lease is not None
    odd = "segment/region=EU west/accuracy"  # characters MLflow refuses in tag keys
    marks = {
        odd: CheckMarks(odd, {"chat": ChannelMark("warning", NOW, ("w1", "w2"))}),
        "perf/auc": CheckMarks("perf/auc", {"pager": ChannelMark("critical", NOW, ("w2",))}),
    }
    store.write(lease, marks)
    assert AlertStateStore("churn", "2", tracking_uri=tracking_uri).read() == marks
    store.write(lease, {odd: CheckMarks(odd, {})})
    assert set(store.read()) == {"perf/auc"}

    run = MlflowClient(tracking_uri).get_run(store.run_id())
    assert run.info.status == "FINISHED"  # nothing left RUNNING
    assert run.data.tags["monitor.kind"] == KIND_ALERT_STATE
    assert run.data.tags["monitor.model_version"] == "2"


def test_versions_have_separate_state(tracking_uri: str) -> None:
    one = AlertStateStore("churn", "1", tracking_uri=tracking_uri)
    two = AlertStateStore("churn", "2", tracking_uri=tracking_uri)
    assert one.run_id() != two.run_id()
    assert one.acquire(ttl_seconds=60, wait_seconds=0) is not None
    assert two.acquire(ttl_seconds=60, wait_seconds=0) is not None

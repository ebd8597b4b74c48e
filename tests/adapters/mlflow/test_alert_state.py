"""Alert state and lease in a real MLflow store (SQLite): exclusive, released, expiring.

The holder's record is tested with real processes: a child that takes the lease and is killed
with SIGKILL, and a child that has exited (a PID known to be gone).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.alert_state import AlertStateStore, LeaseHolder, Standing
from mlflow_monitor.contract import KIND_ALERT_STATE, AppliedThreshold, CheckOutcome, utc_text
from mlflow_monitor.errors import RegistryError
from mlflow_monitor.spec import parse_spec
from mlflow_monitor.verdicts.alert_plan import ChannelMark, CheckMarks, RunEvent
from mlflow_monitor.workflows.dispatch_alerts import dispatch
from tests.fixtures.receiver import Receiver

pytestmark = pytest.mark.integration
NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)
HOST = socket.gethostname()
LINUX_ONLY = pytest.mark.skipif(
    not os.path.exists("/proc/self/ns/pid"), reason="PID namespaces are Linux's"
)
# A child that takes version 1's lease for ten minutes, says so, then idles until killed.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from mlflow_monitor.adapters.mlflow.alert_state import AlertStateStore

    lease = AlertStateStore("churn", "1", tracking_uri=sys.argv[1]).acquire(
        ttl_seconds=600, wait_seconds=0
    )
    print(lease.number if lease else 0, flush=True)
    time.sleep(600)
    """
)


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


# -- who holds the lease ------------------------------------------------------------------------
@pytest.fixture
def killed_holder(tracking_uri: str) -> Iterator[int]:
    """The PID of a child that took version 1's lease (TTL 600 s) and was then killed -9."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, tracking_uri], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "1"  # it holds lease.1
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)  # reaped: the PID is gone, not a zombie
        yield child.pid
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def _exited_pid() -> int:
    """A PID that ran on this host and is gone (the child has exited and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(30)
    return child.pid


def _state_store(tracking_uri: str) -> AlertStateStore:
    """Version 1's store with its state run already created (the TTL clock starts after)."""
    store = AlertStateStore("churn", "1", tracking_uri=tracking_uri)
    store.run_id()
    return store


def _finding() -> CheckOutcome:
    threshold = AppliedThreshold(0.7, None, "static")
    return CheckOutcome("perf/auc", "performance", "fail", "critical", 0.5, threshold, "auc low")


def test_a_killed_holder_is_taken_over_at_once_and_the_wait_is_said(
    tracking_uri: str,
    killed_holder: int,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = AlertStateStore("churn", "1", tracking_uri=tracking_uri)
    recorded = MlflowClient(tracking_uri).get_run(store.run_id()).data.params["lease.1"]
    assert f" {HOST}:{killed_holder} taken=" in recorded  # the holder, in the CAS value itself
    taken = datetime.fromtimestamp(float(recorded.split("taken=")[1].split()[0]), timezone.utc)
    spec = parse_spec(
        {
            "model": "churn",
            "task": "regression",
            "columns": {"prediction": "p"},
            "alerts": {"channels": [{"name": "chat", "url": receiver.url("json", "chat")}]},
        }
    )
    event = RunEvent(
        "churn", "1", "r1", "runs:/r1", "2024-01-01", "2024-01-02", "critical", [_finding()]
    )
    caplog.set_level(logging.WARNING, logger="mlflow_monitor.workflows.dispatch_alerts")

    started = time.monotonic()
    report = dispatch(spec, event, tracking_uri=tracking_uri)  # waits up to 60 s by default
    elapsed = time.monotonic() - started

    assert report.status == "sent" and len(receiver.messages("chat")) == 1
    # before: 60 s of silence, then "locked"; the bound leaves room for a loaded machine
    assert elapsed < 30, f"dispatch took {elapsed:.1f}s behind a dead holder"
    said = [r.getMessage() for r in caplog.records if "alert lease" in r.getMessage()]
    assert len(said) == 1
    assert said[0] == (
        f"waiting for the alert lease of churn v1 held by {HOST}:{killed_holder} since "
        f"{utc_text(taken)}: its process is gone, taking the lease over"
    )
    params = MlflowClient(tracking_uri).get_run(store.run_id()).data.params
    assert f" {HOST}:{os.getpid()} taken=" in params["lease.2"]  # this process took it over


def test_a_live_holder_is_named_once_while_waited_for(tracking_uri: str) -> None:
    holder = AlertStateStore("churn", "1", tracking_uri=tracking_uri)
    before = time.time()
    lease = holder.acquire(ttl_seconds=60, wait_seconds=0)
    assert lease is not None
    seen: list[tuple[LeaseHolder, Standing]] = []
    waiter = AlertStateStore("churn", "1", tracking_uri=tracking_uri)

    taken = waiter.acquire(
        ttl_seconds=60, wait_seconds=0.8, poll_seconds=0.1, on_wait=lambda *a: seen.append(a)
    )

    assert taken is None  # this very process holds it: alive, so it is waited for
    [(found, standing)] = seen  # said once, though polled several times
    assert standing == "live" and found.label == f"{HOST}:{os.getpid()}"
    assert found.number == 1 and found.token == lease.token
    assert found.taken_at is not None and before - 0.001 <= found.taken_at <= time.time()
    assert found.expires == pytest.approx(found.taken_at + 60, abs=0.01)


@pytest.mark.parametrize(
    ("where", "namespace"),
    [
        ("elsewhere.example", None),  # another host
        pytest.param(HOST, "1", marks=LINUX_ONLY),  # this host's name, another container
    ],
)
def test_a_holder_elsewhere_is_judged_by_its_ttl(
    tracking_uri: str, where: str, namespace: str | None
) -> None:
    store, client, gone = _state_store(tracking_uri), MlflowClient(tracking_uri), _exited_pid()
    expires = time.time() + 4
    value = f"{uuid.uuid4().hex} {expires:.3f} {where}:{gone} taken={time.time():.3f}"
    value += f" pidns={namespace}" if namespace else ""
    client.log_param(store.run_id(), "lease.1", value)
    seen: list[tuple[LeaseHolder, Standing]] = []

    assert store.acquire(ttl_seconds=60, wait_seconds=0, on_wait=lambda *a: seen.append(a)) is None
    assert [(h.label, s) for h, s in seen] == [(f"{where}:{gone}", "live")]  # PID not ours to ask
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    taken = store.acquire(ttl_seconds=60, wait_seconds=0, on_wait=lambda *a: seen.append(a))
    assert taken is not None and taken.number == 2
    assert seen[-1][1] == "expired"


@pytest.mark.parametrize("holder", ["{host}:{pid}", ""])  # the previous formats
def test_a_lease_of_the_previous_format_waits_for_its_ttl(tracking_uri: str, holder: str) -> None:
    store, client = _state_store(tracking_uri), MlflowClient(tracking_uri)
    where, expires = holder.format(host=HOST, pid=_exited_pid()), time.time() + 4
    value = f"{uuid.uuid4().hex} {expires:.3f} {where}".rstrip()
    client.log_param(store.run_id(), "lease.1", value)
    seen: list[tuple[LeaseHolder, Standing]] = []

    assert store.acquire(ttl_seconds=60, wait_seconds=0, on_wait=lambda *a: seen.append(a)) is None
    [(found, standing)] = seen  # no holder recorded: its dead PID is not trusted, the TTL is
    assert standing == "live" and found.taken_at is None
    assert found.label == (where or "an unrecorded holder")
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    taken = store.acquire(ttl_seconds=60, wait_seconds=0)
    assert taken is not None and taken.number == 2

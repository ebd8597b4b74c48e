"""Escalation, ack, dismiss and silences on a real SQLite MLflow store with real apprise delivery.

Two receivers on 127.0.0.1 stand for two channels (``slack``: every finding from the start;
``pager``: critical findings still unacknowledged after 30 minutes). Time is injected (the
dispatch clock, ``escalate(now=)``, the decisions' ``now``), so nothing sleeps. A window is a
real FINISHED run carrying a real ``results.json``, and the version's ``monitor.last_run_id``
points at it, as the run workflow leaves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import (
    KIND_WINDOW,
    TAG_LAST_RUN,
    AppliedThreshold,
    CheckOutcome,
    WindowResults,
    utc_text,
    write_results,
)
from mlflow_monitor.spec import MonitorSpec, Severity, parse_spec
from mlflow_monitor.verdicts.alert_plan import RunEvent
from mlflow_monitor.workflows.adjudicate import add_silence, adjudicate, decision_history
from mlflow_monitor.workflows.dispatch_alerts import dispatch
from mlflow_monitor.workflows.escalation import escalate
from tests.fixtures.receiver import Receiver

pytestmark = pytest.mark.integration

MODEL = "churn"
T0 = datetime(2025, 3, 3, 12, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def pager() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def make_spec(slack: Receiver, pager: Receiver) -> MonitorSpec:
    return parse_spec(
        {
            "model": MODEL,
            "task": "binary_classification",
            "columns": {"prediction": "p", "target": "y"},
            "alerts": {
                "cooldown": "24h",
                "timeout_seconds": 5,
                "channels": [
                    {"name": "slack", "url": slack.url("json", "slack")},
                    {
                        "name": "pager",
                        "url": pager.url("json", "pager"),
                        "min_severity": "critical",
                    },
                ],
                "escalation": {
                    "critical": [
                        {"after": "0m", "channels": ["slack"]},
                        {"after": "30m", "channels": ["pager"]},
                    ]
                },
            },
        }
    )


def finding(value: float, severity: Severity = "critical") -> CheckOutcome:
    return CheckOutcome(
        "performance/f1",
        "performance",
        "fail",
        severity,
        value,
        AppliedThreshold(0.7, None, "static"),
        f"f1 {value} below 0.7",
    )


def register(uri: str, tmp: Path, versions: int = 1) -> None:
    client = MlflowClient(uri, uri)
    client.create_registered_model(MODEL)
    for _ in range(versions):
        client.create_model_version(MODEL, tmp.as_uri())


def window(uri: str, tmp: Path, version: str, start: datetime, outcome: CheckOutcome) -> RunEvent:
    """A finished window run with its results.json, made the version's verdict; its event."""
    runs = MonitorRuns(uri)
    end = start + timedelta(days=1)
    run_id = runs.start_run(MODEL, version, kind=KIND_WINDOW, run_name="w", tags={})
    results = WindowResults(
        MODEL, version, utc_text(start), utc_text(end), 100, "critical", (outcome,), ()
    )
    runs.log_file(run_id, write_results(results.to_dict(), tmp / run_id))
    runs.end_run(run_id, "FINISHED")
    runs.set_version_tags(MODEL, version, {TAG_LAST_RUN: run_id})
    health = "critical" if outcome.severity == "critical" else "warning"
    return RunEvent(MODEL, version, run_id, f"runs:/{run_id}", start, end, health, (outcome,))


def at(moment: datetime):  # type: ignore[no-untyped-def]
    return lambda: moment


def test_a_critical_finding_escalates_to_the_pager_once_after_30_minutes(
    tracking_uri: str, receiver: Receiver, pager: Receiver, tmp_path: Path
) -> None:
    spec = make_spec(receiver, pager)
    register(tracking_uri, tmp_path)
    event = window(tracking_uri, tmp_path, "1", T0 - timedelta(days=1), finding(0.55))

    report = dispatch(spec, event, tracking_uri=tracking_uri, clock=at(T0))
    assert [c.status for c in report.channels] == ["sent", "nothing_to_send"]
    assert len(receiver.messages("slack")) == 1 and pager.messages() == []

    early = escalate(tracking_uri=tracking_uri, spec=spec, now=T0 + 29 * MINUTE)
    assert early.versions == ("1",) and early.deliveries == () and pager.messages() == []

    due = escalate(tracking_uri=tracking_uri, spec=spec, now=T0 + 31 * MINUTE)
    assert [(d.channel, d.status, d.step) for d in due.deliveries] == [("pager", "sent", 1)]
    [page] = pager.messages("pager")
    assert page.title.startswith("[ESCALATED] [CRITICAL] churn v1")
    assert "performance/f1" in page.message and "unacknowledged for 31m" in page.message

    again = escalate(tracking_uri=tracking_uri, spec=spec, now=T0 + 40 * MINUTE)
    assert again.deliveries == () and len(pager.messages()) == 1
    assert len(receiver.messages("slack")) == 1  # slack heard once: no repeat from escalation

    # the next window, the finding still firing: the pager was told, so it is in cooldown too
    later = window(tracking_uri, tmp_path, "1", T0, finding(0.55))
    nxt = dispatch(spec, later, tracking_uri=tracking_uri, clock=at(T0 + 2 * 60 * MINUTE))
    assert {(s.channel, s.reason) for s in nxt.suppressed} == {
        ("slack", "cooldown"),
        ("pager", "cooldown"),
    }
    assert len(pager.messages()) == 1


def test_an_acknowledged_finding_never_reaches_the_pager(
    tracking_uri: str,
    receiver: Receiver,
    pager: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_MONITOR_USER", "ana")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    spec = make_spec(receiver, pager)
    register(tracking_uri, tmp_path)
    event = window(tracking_uri, tmp_path, "1", T0 - timedelta(days=1), finding(0.55))
    dispatch(spec, event, tracking_uri=tracking_uri, clock=at(T0))
    record = adjudicate(
        tracking_uri=tracking_uri,
        model=MODEL,
        version="1",
        check="performance/f1",
        action="ack",
        reason="retraining",
        now=T0 + 10 * MINUTE,
    )
    assert (record.user, record.severity, record.key) == ("ana", "critical", "performance/f1")
    for minutes in (31, 45, 24 * 60):
        result = escalate(tracking_uri=tracking_uri, spec=spec, now=T0 + minutes * MINUTE)
        assert result.deliveries == ()
    assert pager.messages() == [] and len(receiver.messages("slack")) == 1

    # reopen undoes the ack: the step is due again at once
    adjudicate(
        tracking_uri=tracking_uri,
        model=MODEL,
        version="1",
        check="performance/f1",
        action="reopen",
        reason="retraining failed",
        now=T0 + 25 * 60 * MINUTE,
    )
    result = escalate(tracking_uri=tracking_uri, spec=spec, now=T0 + 26 * 60 * MINUTE)
    assert [d.status for d in result.deliveries] == ["sent"] and len(pager.messages()) == 1


def test_a_dismissed_finding_is_quiet_until_its_effect_doubles(
    tracking_uri: str, receiver: Receiver, pager: Receiver, tmp_path: Path
) -> None:
    spec = make_spec(receiver, pager)
    register(tracking_uri, tmp_path)
    day = timedelta(days=1)
    first = window(tracking_uri, tmp_path, "1", T0 - day, finding(0.6, "warning"))
    dispatch(spec, first, tracking_uri=tracking_uri, clock=at(T0))
    assert len(receiver.messages("slack")) == 1
    dismissal = adjudicate(
        tracking_uri=tracking_uri,
        model=MODEL,
        version="1",
        check="performance/f1",
        action="dismiss",
        reason="known seasonal dip",
        now=T0 + MINUTE,
    )
    assert dismissal.effect == pytest.approx(0.1)  # 0.7 - 0.6: the distance beyond the bound

    # a day later (past the cooldown), same severity, similar effect: nothing is sent
    similar = window(tracking_uri, tmp_path, "1", T0, finding(0.58, "warning"))
    quiet = dispatch(spec, similar, tracking_uri=tracking_uri, clock=at(T0 + day + MINUTE))
    assert [(s.channel, s.reason) for s in quiet.suppressed] == [("slack", "dismissed")]
    assert len(receiver.messages("slack")) == 1

    # the effect at least doubled (0.25 >= 2 x 0.1): sent again, and the history says why
    worse = window(tracking_uri, tmp_path, "1", T0 + day, finding(0.45, "warning"))
    loud = dispatch(spec, worse, tracking_uri=tracking_uri, clock=at(T0 + 2 * day + MINUTE))
    assert [c.status for c in loud.channels] == ["sent", "nothing_to_send"]
    assert len(receiver.messages("slack")) == 2
    assert "WARNING (escalated)" in receiver.messages("slack")[-1].message
    history = decision_history(tracking_uri=tracking_uri, model=MODEL, version="1")
    assert [(r.action, r.user) for r in history] == [
        ("dismiss", dismissal.user),
        ("reopen", "mlflow-monitor (automatic)"),
    ]
    assert "changed materially" in history[-1].reason


def test_a_silence_suppresses_until_it_ends(
    tracking_uri: str, receiver: Receiver, pager: Receiver, tmp_path: Path
) -> None:
    spec = make_spec(receiver, pager)
    register(tracking_uri, tmp_path, versions=2)
    silence = add_silence(
        tracking_uri=tracking_uri,
        model=MODEL,  # the model: every version
        until=T0 + 60 * MINUTE,
        reason="maintenance",
        now=T0 - MINUTE,
        user="ops",
    )
    event = window(tracking_uri, tmp_path, "2", T0 - timedelta(days=1), finding(0.55))
    held = dispatch(spec, event, tracking_uri=tracking_uri, clock=at(T0))
    assert [(s.check_id, s.channel, s.reason) for s in held.suppressed] == [
        ("performance/f1", "slack", f"silenced {silence.silence_id}")
    ]
    assert held.to_dict()["suppressed"] == [
        {
            "check_id": "performance/f1",
            "channel": "slack",
            "reason": f"silenced {silence.silence_id}",
        }
    ]
    assert receiver.messages() == []
    after = dispatch(spec, event, tracking_uri=tracking_uri, clock=at(T0 + 61 * MINUTE))
    assert [c.status for c in after.channels] == ["sent", "nothing_to_send"]
    assert after.suppressed == () and len(receiver.messages("slack")) == 1

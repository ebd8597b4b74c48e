"""Real delivery: apprise -> HTTP receiver on 127.0.0.1, alert state in a real MLflow (SQLite).

The sequence healthy -> warning -> critical -> critical (in cooldown) -> critical (after
cooldown) -> healthy is driven through ``dispatch`` with an injected clock (no sleeping).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from mlflow_monitor.cli import main
from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Status, health
from mlflow_monitor.spec import MonitorSpec, Severity, parse_spec
from mlflow_monitor.verdicts.alert_plan import AlertsReport, RunEvent
from mlflow_monitor.workflows.dispatch_alerts import dispatch, notify_failure
from tests.fixtures.receiver import Receiver, closed_port

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)
SHARE = "drift/share_drifted"


def _spec(chat_url: str, pager_url: str, cooldown: str = "24h") -> MonitorSpec:
    return parse_spec(
        {
            "model": "churn",
            "task": "binary_classification",
            "columns": {"prediction": "pred", "target": "y", "numerical": ["age"]},
            "alerts": {
                "cooldown": cooldown,
                "timeout_seconds": 2,
                "mlflow_url": "http://mlflow.example:5000",
                "channels": [
                    {"name": "chat", "url": chat_url, "min_severity": "warning"},
                    {"name": "pager", "url": pager_url, "min_severity": "critical"},
                ],
            },
        }
    )


def _share(status: Status, severity: Severity, value: float) -> CheckOutcome:
    upper = 0.3 if severity == "warning" else 0.6
    return CheckOutcome(
        SHARE,
        "drift",
        status,
        severity,
        value,
        AppliedThreshold(None, upper, "static"),
        f"share drifted {value:.2f}",
        metric=SHARE,
    )


def _event(hour: int, outcomes: list[CheckOutcome], run_id: str | None = None) -> RunEvent:
    start = T0 + timedelta(hours=hour)
    rid = run_id or f"run{hour:03d}"
    return RunEvent(
        "churn",
        "3",
        rid,
        f"http://mlflow.example:5000/#/experiments/1/runs/{rid}",
        start,
        start + timedelta(hours=1),
        health(outcomes),
        outcomes,
    )


def _at(hours: float):  # the injected clock: 'now' = T0 + hours
    return lambda: T0 + timedelta(hours=hours)


def test_window_sequence_routes_groups_cools_down_and_resolves(
    receiver: Receiver, tracking_uri: str
) -> None:
    spec = _spec(receiver.url("json", "chat"), receiver.url("form", "pager"))
    passing = CheckOutcome(
        "perf/accuracy",
        "performance",
        "pass",
        "critical",
        0.91,
        AppliedThreshold(0.8, None, "static"),
        "ok",
        metric="perf/accuracy",
    )

    def run(hour: int, now: float, *outcomes: CheckOutcome) -> AlertsReport:
        event = _event(hour, [passing, *outcomes])
        return dispatch(spec, event, tracking_uri=tracking_uri, clock=_at(now))

    # 1. healthy: nothing to say
    report = run(1, 2, _share("pass", "warning", 0.1))
    assert report.status == "nothing_to_send" and receiver.messages() == []

    # 2. warning: the chat channel hears it, the critical-only pager does not
    report = run(2, 3, _share("warn", "warning", 0.4))
    chat = receiver.messages("chat")
    assert [c.status for c in report.channels] == ["sent", "nothing_to_send"]
    assert len(chat) == 1 and receiver.messages("pager") == []
    assert chat[0].type == "warning" and chat[0].title.startswith("[WARNING] churn v3")
    line = next(x for x in chat[0].message.splitlines() if SHARE in x)
    for part in ("WARNING (new)", "value 0.4", "<= 0.3 (static)"):
        assert part in line, part
    header = "\n".join(chat[0].message.splitlines()[:2])
    for part in (
        "churn",
        "version 3",
        "2024-03-04T12:00:00Z .. 2024-03-04T13:00:00Z",
        "/#/experiments/1/runs/run002",
    ):
        assert part in header, part
    assert chat[0].message.count("/#/experiments/1/runs/run002") == 1  # named once

    # 3. critical: escalation to chat, first page to the pager
    report = run(3, 4, _share("fail", "critical", 0.7))
    assert [c.status for c in report.channels] == ["sent", "sent"]
    assert "CRITICAL (escalated)" in receiver.messages("chat")[-1].message
    pager = receiver.messages("pager")
    assert len(pager) == 1 and pager[0].type == "failure"
    assert "CRITICAL (new)" in pager[0].message and "value 0.7" in pager[0].message

    # 4. still critical one hour later (cooldown 24h): nothing, recorded as suppressed
    report = run(4, 5, _share("fail", "critical", 0.72))
    assert report.status == "nothing_to_send"
    assert {(s.channel, s.reason) for s in report.suppressed} == {
        ("chat", "cooldown"),
        ("pager", "cooldown"),
    }
    assert len(receiver.messages()) == 3

    # 5. still critical after the cooldown: repeated on both channels
    report = run(30, 31, _share("fail", "critical", 0.75))
    assert [c.status for c in report.channels] == ["sent", "sent"]
    assert all("CRITICAL (repeat)" in m.message for m in receiver.messages()[-2:])

    # 6. healthy again: 'resolved' to both channels that were told
    report = run(31, 32, _share("pass", "warning", 0.05))
    last_chat, last_pager = receiver.messages("chat")[-1], receiver.messages("pager")[-1]
    assert len(receiver.messages()) == 7
    for message in (last_chat, last_pager):
        assert message.type == "success" and message.title.startswith("[RESOLVED]")
        assert f"RESOLVED (resolved) {SHARE}: value 0.05" in message.message

    # and nothing more afterwards
    assert run(32, 33, _share("pass", "warning", 0.05)).status == "nothing_to_send"
    assert len(receiver.messages()) == 7


def test_one_message_per_channel_worst_first(receiver: Receiver, tracking_uri: str) -> None:
    spec = _spec(receiver.url("json", "chat"), receiver.url("form", "pager"))
    findings = [
        CheckOutcome(
            "quality/age/missing",
            "quality",
            "warn",
            "warning",
            0.2,
            AppliedThreshold(None, 0.1, "static"),
            "missing",
            metric=None,
        ),
        _share("fail", "critical", 0.8),
        CheckOutcome(
            "drift/age/psi",
            "drift",
            "warn",
            "info",
            0.15,
            AppliedThreshold(None, 0.1, "drift_method"),
            "psi",
        ),
    ]
    report = dispatch(spec, _event(1, findings), tracking_uri=tracking_uri, clock=_at(2))
    chat, pager = receiver.messages("chat"), receiver.messages("pager")
    assert len(chat) == 1 and len(pager) == 1
    order = [x.split(":")[0] for x in chat[0].message.splitlines() if x.startswith("- ")]
    assert order == [
        f"- CRITICAL (new) {SHARE}",
        "- WARNING (new) quality/age/missing",
    ]  # info below chat's minimum
    assert "quality/age/missing" not in pager[0].message
    assert report.to_dict()["channels"][1]["severity"] == "critical"


def test_closed_port_failure_is_recorded_and_sent_by_the_next_run(
    receiver: Receiver, tracking_uri: str
) -> None:
    dead = f"json://127.0.0.1:{closed_port()}/chat"
    finding = _share("fail", "critical", 0.9)
    first = dispatch(
        _spec(dead, receiver.url("form", "pager")),
        _event(1, [finding]),
        tracking_uri=tracking_uri,
        clock=_at(2),
    )
    assert first.status == "partial"
    failed = first.channels[0]
    assert failed.status == "failed" and failed.reason
    assert json.loads(json.dumps(first.to_dict()))["channels"][0]["status"] == "failed"
    assert len(receiver.messages("pager")) == 1

    # the chat endpoint comes back: the next run (next window, within cooldown) sends it there
    spec = _spec(receiver.url("json", "chat"), receiver.url("form", "pager"))
    second = dispatch(spec, _event(2, [finding]), tracking_uri=tracking_uri, clock=_at(3))
    assert [c.status for c in second.channels] == ["sent", "nothing_to_send"]
    chat = receiver.messages("chat")
    assert len(chat) == 1 and "CRITICAL (new)" in chat[0].message
    assert len(receiver.messages("pager")) == 1  # the pager already had it: cooldown


def test_a_retried_run_never_sends_the_same_finding_twice(
    receiver: Receiver, tracking_uri: str
) -> None:
    spec = _spec(receiver.url("json", "chat"), receiver.url("form", "pager"), cooldown="0s")
    event = _event(1, [_share("fail", "critical", 0.9)])
    dispatch(spec, event, tracking_uri=tracking_uri, clock=_at(2))
    retry = dispatch(spec, event, tracking_uri=tracking_uri, clock=_at(50))
    assert retry.status == "nothing_to_send"
    assert {s.reason for s in retry.suppressed} == {"duplicate"}
    assert len(receiver.messages()) == 2


def test_two_concurrent_runs_send_once(receiver: Receiver, tracking_uri: str) -> None:
    spec = _spec(receiver.url("json", "chat"), receiver.url("form", "pager"))
    event = _event(1, [_share("fail", "critical", 0.9)])
    dispatch(spec, _event(0, []), tracking_uri=tracking_uri, clock=_at(1))  # state run exists
    reports: list[AlertsReport] = []
    barrier = threading.Barrier(2)

    def one() -> None:
        barrier.wait()
        reports.append(dispatch(spec, event, tracking_uri=tracking_uri, clock=_at(2)))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status for r in reports) == ["nothing_to_send", "sent"]
    assert len(receiver.messages("chat")) == 1 and len(receiver.messages("pager")) == 1


def test_monitoring_failure_alerts_then_resolves(receiver: Receiver, tracking_uri: str) -> None:
    spec = _spec(receiver.url("json", "chat"), receiver.url("form", "pager"))
    report = notify_failure(
        spec,
        "churn",
        "3",
        "abc123",
        "column 'age' missing in window.parquet",
        T0,
        T0 + timedelta(hours=1),
        tracking_uri,
        experiment_id="7",
        clock=_at(2),
    )
    assert [c.status for c in report.channels] == ["sent", "sent"]
    page = receiver.messages("pager")[0]
    assert page.type == "failure"
    assert "monitoring failed: column 'age' missing in window.parquet" in page.message
    assert "http://mlflow.example:5000/#/experiments/7/runs/abc123" in page.message
    dispatch(spec, _event(2, []), tracking_uri=tracking_uri, clock=_at(3))
    assert "RESOLVED (resolved) monitoring/run" in receiver.messages("pager")[-1].message


def test_alerts_test_command_reports_each_channel(receiver: Receiver, tmp_path) -> None:
    spec_file = tmp_path / "monitor.yaml"
    good = _spec(receiver.url("json", "chat"), receiver.url("form", "pager"))
    spec_file.write_text(good.to_yaml())
    result = CliRunner().invoke(main, ["alerts", "test", "--spec", str(spec_file)])
    assert result.exit_code == 0, result.output
    assert "chat" in result.output and "pager" in result.output
    assert result.output.count("sent") == 2
    assert len(receiver.messages("chat")) == 1 and len(receiver.messages("pager")) == 1
    assert "Test message" in receiver.messages("pager")[0].message

    bad = _spec(receiver.url("json", "chat"), f"form://127.0.0.1:{closed_port()}/pager")
    spec_file.write_text(bad.to_yaml())
    result = CliRunner().invoke(main, ["alerts", "test", "--spec", str(spec_file)])
    assert result.exit_code == 2
    assert "failed" in result.output and "1 of 2 channels failed" in result.output

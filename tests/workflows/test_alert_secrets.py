"""A ``${SECRET_TOKEN}`` in a channel URL reaches no report, reason or log line.

Failed deliveries are where secrets leak (exception texts and urllib3's DEBUG request lines
carry the URL path); the full-run search of every tag, param, artifact and notebook is in
``tests/integration/test_alerts_pipeline.py``.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome
from mlflow_monitor.spec import parse_spec
from mlflow_monitor.verdicts.alert_plan import RunEvent
from mlflow_monitor.workflows.dispatch_alerts import dispatch, failure_lines, send_test
from tests.fixtures.receiver import Receiver, closed_port

pytestmark = pytest.mark.integration


def test_failed_delivery_reasons_and_debug_logs_carry_no_secret(
    tracking_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    monkeypatch.setenv("SECRET_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    port = closed_port()
    spec = parse_spec(
        {
            "model": "m",
            "task": "regression",
            "columns": {"prediction": "p"},
            "alerts": {
                "timeout_seconds": 1,
                "channels": [
                    {"name": "hook", "url": f"json://127.0.0.1:{port}/hook/${{SECRET_TOKEN}}"},
                    {"name": "auth", "url": f"form://bot:${{SECRET_TOKEN}}@127.0.0.1:{port}/x"},
                ],
            },
        }
    )
    finding = CheckOutcome(
        "perf/mae",
        "performance",
        "fail",
        "critical",
        9.0,
        AppliedThreshold(None, 1.0, "static"),
        "mae high",
    )
    event = RunEvent("m", "1", "r", "runs:/r", "2024-01-01", "2024-01-02", "critical", [finding])
    report = dispatch(spec, event, tracking_uri=tracking_uri)
    tested = send_test(spec)
    assert [c.status for c in report.channels] == ["failed", "failed"]
    assert [c.status for c in tested] == ["failed", "failed"]
    text = json.dumps(report.to_dict()) + repr(tested)
    assert "${SECRET_TOKEN}" in text and secret not in text
    # the console says so, one line per channel, as redacted as the report
    lines = failure_lines(report)
    assert [x.split(": delivery failed: ")[0] for x in lines] == [
        "[alerts] channel hook",
        "[alerts] channel auth",
    ]
    assert all(x.split(": delivery failed: ")[1] for x in lines)
    assert secret not in "\n".join(lines)
    assert "Connection" in caplog.text and "/hook/" in caplog.text  # the debug lines exist
    out, err = capfd.readouterr()
    assert secret not in caplog.text and secret not in out + err


def test_a_missing_secret_fails_that_channel_with_its_name(
    receiver: Receiver, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_TOKEN", raising=False)
    spec = parse_spec(
        {
            "model": "m",
            "task": "regression",
            "columns": {"prediction": "p"},
            "alerts": {
                "channels": [
                    {"name": "hook", "url": receiver.url("json", "${SECRET_TOKEN}")},
                    {"name": "ok", "url": receiver.url("json", "ok")},
                ]
            },
        }
    )
    results = send_test(spec)
    assert [r.status for r in results] == ["failed", "sent"]
    assert "SECRET_TOKEN" in results[0].reason and "not set" in results[0].reason

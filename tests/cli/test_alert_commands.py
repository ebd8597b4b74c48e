"""``alerts ack|dismiss|reopen|decisions|escalate`` and ``silence add|list|end`` in process.

Real SQLite MLflow store; the version's verdict is a real window run with ``results.json``
(``tests.workflows.test_escalation``). Who decided comes from ``MLFLOW_MONITOR_USER``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from mlflow import MlflowClient

from mlflow_monitor.cli import main
from mlflow_monitor.contract import TAG_KIND, experiment_name
from mlflow_monitor.workflows.adjudicate import decision_history
from tests.workflows.test_escalation import MODEL, finding, register, window

pytestmark = pytest.mark.integration


def _runs(uri: str) -> int:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment_name(MODEL))
    assert experiment is not None
    return len(client.search_runs([experiment.experiment_id]))


def test_decisions_record_who_when_why_and_a_bad_check_writes_nothing(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_MONITOR_USER", "ana")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    register(tracking_uri, tmp_path)
    window(tracking_uri, tmp_path, "1", datetime(2025, 3, 1, tzinfo=timezone.utc), finding(0.5))
    runner = CliRunner()
    common = ["--model", MODEL, "--version", "1", "--tracking-uri", tracking_uri]
    before = datetime.now(timezone.utc)
    for action, reason in [("ack", "on it"), ("dismiss", "known dip"), ("reopen", "not a dip")]:
        args = ["alerts", action, *common, "--check", "performance/f1", "--reason", reason]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"{action}: {MODEL} v1 performance/f1 by ana at ")
    history = decision_history(tracking_uri=tracking_uri, model=MODEL, version="1")
    assert [(r.action, r.user, r.reason) for r in history] == [
        ("ack", "ana", "on it"),
        ("dismiss", "ana", "known dip"),
        ("reopen", "ana", "not a dip"),
    ]
    assert all(before - timedelta(seconds=1) <= r.at <= datetime.now(timezone.utc) for r in history)
    assert history[0].severity == "critical" and history[0].effect == pytest.approx(0.2)
    listed = runner.invoke(main, ["alerts", "decisions", *common])
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 3
    assert "dismiss" in listed.stdout and "ana: known dip" in listed.stdout

    # an unknown check: exit 2, one line naming it, nothing written
    runs = _runs(tracking_uri)
    bad = ["alerts", "ack", *common, "--check", "performance/f2", "--reason", "x"]
    result = runner.invoke(main, bad)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --check performance/f2: not a check of {MODEL} v1's latest results "
        "(firing now: performance/f1)"
    ]
    assert _runs(tracking_uri) == runs


def test_silences_are_added_listed_and_ended(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_MONITOR_USER", "ops")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    register(tracking_uri, tmp_path)
    spec = tmp_path / "monitor.yaml"
    channels = [{"name": "slack", "url": "json://127.0.0.1:9/x"}]
    body = {"model": MODEL, "task": "regression", "columns": {"prediction": "p"}}
    spec.write_text(yaml.safe_dump({**body, "alerts": {"channels": channels}}))
    runner = CliRunner()
    uri = ["--tracking-uri", tracking_uri]
    wrong = ["silence", "add", "--spec", str(spec), "--channel", "pagr", "--for", "4h"]
    refused = runner.invoke(main, [*wrong, "--reason", "x", *uri])
    assert refused.exit_code == 2 and "--channel pagr" in refused.stderr
    neither = runner.invoke(main, ["silence", "add", "--model", MODEL, "--reason", "x", *uri])
    assert neither.exit_code == 2 and "--until" in neither.stderr

    add = ["silence", "add", "--spec", str(spec), "--channel", "slack", "--for", "4h"]
    added = runner.invoke(main, [*add, "--reason", "maintenance", *uri])
    assert added.exit_code == 0, added.output
    silence_id = added.stdout.split()[1].rstrip(":")
    assert f"{MODEL}, all checks, channel slack until " in added.stdout and "by ops" in added.stdout
    listed = runner.invoke(main, ["silence", "list", "--model", MODEL, *uri])
    assert listed.stdout.startswith(silence_id) and "maintenance" in listed.stdout
    ended = runner.invoke(main, ["silence", "end", silence_id, *uri])
    assert ended.exit_code == 0 and "ended at" in ended.stdout and "by ops" in ended.stdout
    now = runner.invoke(main, ["silence", "list", "--model", MODEL, *uri])
    assert now.stdout.strip() == f"no silences in force for {MODEL}"
    everything = runner.invoke(main, ["silence", "list", "--model", MODEL, "--all", *uri])
    assert silence_id in everything.stdout and "ended" in everything.stdout
    again = runner.invoke(main, ["silence", "end", silence_id, *uri])
    assert again.exit_code == 2 and "already over" in again.stderr
    missing = runner.invoke(main, ["silence", "end", "0" * 32, *uri])
    assert missing.exit_code == 2 and "no such silence" in missing.stderr
    client = MlflowClient(tracking_uri)
    run = client.get_run(silence_id)
    assert run.data.tags[TAG_KIND] == "silence"

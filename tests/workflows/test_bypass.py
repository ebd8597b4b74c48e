"""Bypass detection without webhooks, on a real SQLite MLflow store, and its pure reading.

Versions get the tags, ``results.json`` and ``monitor.yaml`` a monitoring run leaves; the
alias is moved around the gate with ``MlflowClient.set_registered_model_alias``; alerts go
through apprise to the HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.verdicts.promotion import AliasEntry, read_alias_move
from mlflow_monitor.workflows.bypass import (
    Bypass,
    WebhookInputError,
    detect_bypasses,
    handle_alias_event,
    register_webhook,
    settle_bypasses,
)
from mlflow_monitor.workflows.promote import history, promote
from mlflow_monitor.workflows.status import status_rows, status_table
from tests.fixtures.receiver import Receiver

NAME = "swept"


def entry(decision: str, version: str, at: str, *, pending: bool = False) -> AliasEntry:
    return AliasEntry(decision, version, at, f"run-{at}", pending)


# -- the pure reading ----------------------------------------------------------------------------
def test_read_alias_move_tells_ours_recorded_and_unexplained() -> None:
    trail = [entry("granted", "1", "t1"), entry("refused", "3", "t2")]
    assert read_alias_move(trail, "1").kind == "ours"
    move = read_alias_move(trail, "3")  # a refused version set by hand
    assert move.kind == "unexplained" and move.basis == trail[0] and move.restore_to == "1"

    pending = [*trail, entry("granted", "2", "t3", pending=True)]  # promote still moving
    assert read_alias_move(pending, "2").kind == "ours"
    after = [*pending, entry("bypass", "3", "t4"), entry("revert", "2", "t5", pending=True)]
    assert read_alias_move(after, "2").kind == "ours"  # the revert's own event
    assert read_alias_move(after[:-1], "3").kind == "recorded"
    assert read_alias_move(after[:-1], "3").restore_to == "2"
    # never placed by a record: nothing to restore, a revert deletes the alias
    first = read_alias_move([entry("refused", "1", "t1")], "1")
    assert first.kind == "unexplained" and first.basis is None and first.restore_to is None


def test_restore_skips_the_bypassed_version() -> None:
    trail = [entry("granted", "1", "t1"), entry("granted", "2", "t2"), entry("bypass", "3", "t3")]
    assert read_alias_move(trail, "2").restore_to == "1"  # 2 was granted, then bypassed away


# -- on a real store -----------------------------------------------------------------------------
def spec_text(receiver: Receiver, *, revert: bool) -> str:
    return (
        f"model: {NAME}\ntask: binary_classification\n"
        "columns: {prediction: p, numerical: [x]}\n"
        f"gates:\n  champion: {{max_age: 7d, revert_bypass: {str(revert).lower()}}}\n"
        "alerts:\n  channels:\n"
        f"    - {{url: '{receiver.url('json', 'oncall')}', min_severity: critical, name: oncall}}\n"
    )


def craft(uri: str, folder: Path, version: str, health: str, spec: str) -> None:
    runs = MonitorRuns(uri)
    base = runs.start_run(NAME, version, kind="baseline", run_name="baseline", tags={})
    runs.end_run(base, "FINISHED")
    window = runs.start_run(NAME, version, kind="window", run_name="window", tags={})
    files = folder / f"v{version}"
    files.mkdir()
    status = "pass" if health == "healthy" else "fail"
    outcome = {"check_id": "performance/roc_auc", "status": status, "severity": "critical"}
    (files / "results.json").write_text(json.dumps({"health": health, "outcomes": [outcome]}))
    (files / "monitor.yaml").write_text(spec)
    runs.log_file(window, files / "results.json")
    runs.log_file(window, files / "monitor.yaml")
    runs.end_run(window, "FINISHED")
    checked = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = {
        "monitor.health": health,
        "monitor.last_checked": checked,
        "monitor.baseline_run_id": base,
        "monitor.last_run_id": window,
    }
    runs.set_version_tags(NAME, version, tags)


def setup_model(uri: str, folder: Path, healths: list[str], spec: str) -> MlflowClient:
    client = MlflowClient(uri, uri)
    client.create_registered_model(NAME)
    for number, health in enumerate(healths, start=1):
        client.create_model_version(NAME, f"s3://models/{NAME}/{number}")
        craft(uri, folder, str(number), health, spec)
    return client


def as_spec(text: str) -> MonitorSpec:
    return parse_spec(yaml.safe_load(text))


def decisions(uri: str) -> list[tuple[str, str]]:
    return [(r.decision, r.version) for r in history(NAME, tracking_uri=uri)]


def test_sweep_finds_records_alerts_and_reverts_once(
    tracking_uri: str, tmp_path: Path, receiver: Receiver
) -> None:
    spec = spec_text(receiver, revert=True)
    client = setup_model(tracking_uri, tmp_path, ["healthy", "critical"], spec)
    promote(as_spec(spec), NAME, "1", "champion", tracking_uri=tracking_uri)
    assert detect_bypasses(tracking_uri=tracking_uri, model=NAME) == []

    client.set_registered_model_alias(NAME, "champion", "2")
    found = detect_bypasses(tracking_uri=tracking_uri, spec=as_spec(spec))
    assert found == [Bypass(NAME, "champion", "2", "1")]
    table = status_table(status_rows(NAME, tracking_uri=tracking_uri))
    expected = (
        f"bypass: {NAME}@champion -> version 2 (not recorded; the audit trail says version 1)"
    )
    assert expected in table.splitlines()

    (outcome,) = settle_bypasses(tracking_uri=tracking_uri, model=NAME)
    assert outcome.kind == "bypass" and outcome.reasons[0].startswith("health: critical")
    assert outcome.revert is not None and outcome.revert.version == "1"
    assert outcome.alert is not None and outcome.alert.status == "sent"
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    assert decisions(tracking_uri) == [("granted", "1"), ("bypass", "2"), ("revert", "1")]
    (bypass,) = [r for r in history(NAME, tracking_uri=tracking_uri) if r.decision == "bypass"]
    assert bypass.user == "unknown (detected)" and bypass.event == {"source": "sweep"}
    assert len(receiver.messages("oncall")) == 1

    # the revert's own event, and a late replay of the bypass's event: nothing more happens
    again = handle_alias_event(tracking_uri=tracking_uri, model=NAME, alias="champion", version="1")
    assert again.kind == "ours"
    late = handle_alias_event(tracking_uri=tracking_uri, model=NAME, alias="champion", version="2")
    assert late.kind == "moved_on"
    assert settle_bypasses(tracking_uri=tracking_uri, model=NAME) == []
    assert len(decisions(tracking_uri)) == 3 and len(receiver.messages("oncall")) == 1
    assert "bypass:" not in status_table(status_rows(NAME, tracking_uri=tracking_uri))


def test_kept_bypass_is_alerted_once_and_a_granted_move_is_unaudited(
    tracking_uri: str, tmp_path: Path, receiver: Receiver
) -> None:
    spec = spec_text(receiver, revert=False)
    client = setup_model(tracking_uri, tmp_path, ["healthy", "critical", "healthy"], spec)
    client.set_registered_model_alias(NAME, "champion", "2")  # never promoted at all
    # no audit trail: gated only when the spec names the alias's gate
    assert detect_bypasses(tracking_uri=tracking_uri, model=NAME) == []
    gated = detect_bypasses(tracking_uri=tracking_uri, spec=as_spec(spec))
    assert gated == [Bypass(NAME, "champion", "2", None)]
    assert "no version (never promoted)" in gated[0].line

    event = {"delivery_id": "d-1", "source": "webhook"}
    first = handle_alias_event(
        tracking_uri=tracking_uri, model=NAME, alias="champion", version="2", event=event
    )
    assert first.kind == "bypass" and first.revert is None
    assert first.record is not None and first.record.previous_version is None
    second = handle_alias_event(
        tracking_uri=tracking_uri, model=NAME, alias="champion", version="2", event=event
    )
    assert second.kind == "recorded"  # a retried delivery is not alerted twice
    assert len(receiver.messages("oncall")) == 1
    assert "still points at version 2" in receiver.messages("oncall")[0].message
    (row,) = [r for r in status_rows(NAME, tracking_uri=tracking_uri) if r.version == "2"]
    assert row.bypasses == (
        f"bypass: {NAME}@champion -> version 2 (recorded: the gate refuses it, set outside "
        "promote)",
    )

    client.set_registered_model_alias(NAME, "champion", "3")  # healthy: the gate would grant
    granted = handle_alias_event(
        tracking_uri=tracking_uri, model=NAME, alias="champion", version="3"
    )
    assert granted.kind == "unaudited" and granted.alert is None
    assert decisions(tracking_uri) == [("bypass", "2"), ("unaudited", "3")]
    assert len(receiver.messages("oncall")) == 1
    assert detect_bypasses(tracking_uri=tracking_uri, model=NAME, include_recorded=True) == []


def test_revert_without_an_earlier_holder_deletes_the_alias(
    tracking_uri: str, tmp_path: Path, receiver: Receiver
) -> None:
    spec = spec_text(receiver, revert=True)
    client = setup_model(tracking_uri, tmp_path, ["critical"], spec)
    client.set_registered_model_alias(NAME, "champion", "1")
    outcome = handle_alias_event(
        tracking_uri=tracking_uri, model=NAME, alias="champion", version="1"
    )
    assert outcome.kind == "bypass" and outcome.revert is not None
    assert outcome.revert.version == "" and "deleted" in outcome.revert.reasons[0]
    assert client.get_registered_model(NAME).aliases == {}
    assert decisions(tracking_uri) == [("bypass", "1"), ("revert", "")]


def test_register_webhook_refuses_bad_input_before_calling_mlflow(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "http://127.0.0.1:5005/monitor/webhooks/mlflow"
    monkeypatch.delenv("BYPASS_UNSET_SECRET", raising=False)
    with pytest.raises(WebhookInputError, match=r"\$BYPASS_UNSET_SECRET is not set"):
        register_webhook(tracking_uri=tracking_uri, url=url, secret_env="BYPASS_UNSET_SECRET")
    monkeypatch.setenv("BYPASS_SECRET", "x")
    with pytest.raises(WebhookInputError, match="--url 'ftp://h/x'"):
        register_webhook(tracking_uri=tracking_uri, url="ftp://h/x", secret_env="BYPASS_SECRET")
    monkeypatch.delenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", raising=False)
    with pytest.raises(WebhookInputError, match="is not an MLflow server"):
        register_webhook(tracking_uri=tracking_uri, url=url, secret_env="BYPASS_SECRET")

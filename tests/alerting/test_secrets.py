"""A ``${SECRET_TOKEN}`` in a channel URL is used for delivery and written nowhere.

One end-to-end story through ``monitor.run_window`` (real MLflow on SQLite, real papermill, real
apprise to a receiver on 127.0.0.1): stable -> drifted -> degraded windows and a failed run.
Then every tag, parameter and artifact (executed notebooks included) of every run, the version
tags, the raw bytes of the store and the logs are searched for the secret's value.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor import demo, monitor
from mlflow_monitor.errors import MonitorError
from mlflow_monitor.registry.models import register_sklearn_model
from tests.alerting.receiver import Receiver

pytestmark = pytest.mark.integration
MODEL = "churn-alerts"

ALERTS = """\
alerts:
  cooldown: 24h
  timeout_seconds: 5
  mlflow_url: http://mlflow.example:5000
  channels:
    - {{name: chat, url: "json://127.0.0.1:{port}/hook/${{SECRET_TOKEN}}", min_severity: warning}}
    - name: pager
      url: "form://oncall:${{SECRET_TOKEN}}@127.0.0.1:{port}/pager"
      min_severity: critical
"""


def _alerts_json(client: MlflowClient, run_id: str, tmp: Path) -> dict[str, object]:
    local = client.download_artifacts(run_id, "alerts.json", str(tmp))
    body: dict[str, object] = json.loads(Path(local).read_text())
    return body


def _everything_logged(client: MlflowClient, tmp: Path) -> list[tuple[str, str]]:
    """(where, text) for every tag, param and artifact file of every run and version."""
    found: list[tuple[str, str]] = []
    experiments = client.search_experiments()
    for run in client.search_runs([e.experiment_id for e in experiments]):
        rid = run.info.run_id
        found += [(f"{rid} tag {k}", v) for k, v in run.data.tags.items()]
        found += [(f"{rid} param {k}", v) for k, v in run.data.params.items()]
        folder = Path(client.download_artifacts(rid, "", str(tmp / rid)))
        found += [(f"{rid} artifact {p.relative_to(folder)}", p.read_bytes().decode("latin-1"))
                  for p in folder.rglob("*") if p.is_file()]
    for mv in client.search_model_versions(f"name = '{MODEL}'"):
        found += [(f"version {mv.version} tag {k}", v) for k, v in mv.tags.items()]
    return found


def test_full_runs_alert_and_leak_no_secret(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    monkeypatch.setenv("SECRET_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "store"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    spec_path = tmp_path / "monitor.yaml"
    spec_path.write_text(demo.CHURN_SPEC.format(model=MODEL) + ALERTS.format(port=receiver.port))

    model = demo.train_churn_model(demo.make_churn(4000, seed=1, start=demo.START - timedelta(28)))
    reference = demo.score(model, demo.make_churn(3000, seed=2))
    reference.to_parquet(tmp_path / "reference.parquet")
    store.mkdir()
    version = register_sklearn_model(model, MODEL, tracking_uri=uri,
                                     artifact_root=store / "mlartifacts")
    monitor.build_baseline_run(spec_path, version, tmp_path / "reference.parquet",
                               tracking_uri=uri)
    client = MlflowClient(uri)

    healths = []
    for plan, frame in demo.demo_windows(3000):
        path = tmp_path / f"{plan.name}.parquet"
        demo.score(model, frame).to_parquet(path)
        result = monitor.run_window(spec_path, version, path, tracking_uri=uri,
                                    window_start=plan.start,
                                    window_end=plan.start + timedelta(days=7))
        healths.append(result.health)
        report = _alerts_json(client, result.run_id, tmp_path / "dl" / result.run_id)
        statuses = {c["channel"]: c["status"] for c in report["channels"]}  # type: ignore[union-attr,index]
        if plan.name == "stable":
            assert result.health == "healthy" and set(statuses.values()) == {"nothing_to_send"}
            assert receiver.messages() == []
        if plan.name == "degraded":
            assert result.health == "critical" and statuses["pager"] == "sent"
            page = receiver.messages("pager")[-1]
            assert page.type == "failure" and f"{MODEL} v{version}" in page.title
            assert result.run_id in page.message and "mlflow.example:5000" in page.message
    assert healths[1] in ("warning", "critical")
    chat = receiver.messages("hook")
    assert len(chat) == 2 and all(m.path == f"/hook/{secret}" for m in chat)  # secret was used
    pages = receiver.messages("pager")
    assert pages and all(
        m.authorization == "Basic " + base64.b64encode(f"oncall:{secret}".encode()).decode()
        for m in pages)

    # a failed run (a column is missing): monitoring itself failed -> critical alert
    broken = tmp_path / "broken.parquet"
    demo.score(model, demo.make_churn(500, seed=9)).drop(columns=["age"]).to_parquet(broken)
    with pytest.raises(MonitorError, match="age"):
        monitor.run_window(spec_path, version, broken, tracking_uri=uri)
    assert "monitoring failed" in receiver.messages("pager")[-1].message
    assert "age" in receiver.messages("pager")[-1].message

    # the secret is nowhere: MLflow entities, artifacts, raw store bytes, logs, output
    logged = _everything_logged(client, tmp_path / "all")
    assert any("alerts.json" in where for where, _ in logged)
    assert any(where.endswith(".ipynb") for where, _ in logged)
    assert [where for where, text in logged if secret in text] == []
    raw = [p for p in store.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert raw == []
    out, err = capfd.readouterr()
    assert secret not in caplog.text and secret not in out and secret not in err
    assert "${SECRET_TOKEN}" in caplog.text or "hook" in caplog.text  # delivery was logged

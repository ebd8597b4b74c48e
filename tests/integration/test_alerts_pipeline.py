"""Alerts and history thresholds through the real pipeline; the alert lease over HTTP + PostgreSQL.

``monitor.run_window`` (real MLflow on SQLite, real papermill, real apprise to a receiver on
127.0.0.1) for the drifted and degraded demo windows and a failed run, with a channel URL holding
``${SECRET_TOKEN}``; then every tag, parameter and artifact (executed notebooks included) of every
run, the version tags, the raw bytes of the store and the logs are searched for the secret.
A check with ``history:`` shows that the workflow read the earlier window's value back from
MLflow (too little history yet: static fallback, saying how much there was).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.alert_state import AlertStateStore, Lease
from mlflow_monitor.contract import AppliedThreshold, CheckOutcome
from mlflow_monitor.errors import MonitorError
from mlflow_monitor.spec import load_spec, parse_spec
from mlflow_monitor.verdicts.alert_plan import RunEvent
from mlflow_monitor.workflows import monitor_window as monitor
from mlflow_monitor.workflows.dispatch_alerts import dispatch
from tests.fixtures.receiver import Receiver, closed_port
from tests.integration.conftest import Registered, Server

pytestmark = pytest.mark.integration

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
    - {{name: dead, url: "json://127.0.0.1:{dead}/dead/${{SECRET_TOKEN}}", min_severity: critical}}
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _alerts_json(client: MlflowClient, run_id: str, tmp: Path) -> dict[str, object]:
    body: dict[str, object] = json.loads(
        Path(client.download_artifacts(run_id, "alerts.json", str(tmp))).read_text()
    )
    return body


def _outcome(client: MlflowClient, run_id: str, check_id: str, tmp: Path) -> dict[str, object]:
    body = json.loads(Path(client.download_artifacts(run_id, "results.json", str(tmp))).read_text())
    found: dict[str, object] = next(o for o in body["outcomes"] if o["check_id"] == check_id)
    return found


def _everything_logged(client: MlflowClient, model: str, tmp: Path) -> list[tuple[str, str]]:
    """(where, text) for every tag, param and artifact file of every run, and version tags."""
    found: list[tuple[str, str]] = []
    experiments = [e.experiment_id for e in client.search_experiments()]
    for run in client.search_runs(experiments):
        rid = run.info.run_id
        found += [(f"{rid} tag {k}", v) for k, v in run.data.tags.items()]
        found += [(f"{rid} param {k}", v) for k, v in run.data.params.items()]
        folder = Path(client.download_artifacts(rid, "", str(tmp / rid)))
        found += [
            (f"{rid} artifact {p.relative_to(folder)}", p.read_bytes().decode("latin-1"))
            for p in folder.rglob("*")
            if p.is_file()
        ]
    for mv in client.search_model_versions(f"name = '{model}'"):
        found += [(f"version {mv.version} tag {k}", v) for k, v in mv.tags.items()]
    return found


def test_runs_alert_by_severity_and_leak_no_secret(
    with_baseline: Registered,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    monkeypatch.setenv("SECRET_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    reg, data = with_baseline, with_baseline.data
    text = reg.spec.read_text()
    plain_f1 = "{metric: f1, max_drop: 0.08, severity: warning}"
    assert plain_f1 in text
    text = text.replace(plain_f1, plain_f1[:-1] + ", history: {min_history: 2}}")
    reg.spec.write_text(text + ALERTS.format(port=receiver.port, dead=closed_port()))
    model = load_spec(reg.spec).model
    client = MlflowClient(reg.uri)

    for name in ("drifted", "degraded"):
        said: list[str] = []
        result = monitor.run_window(
            reg.spec,
            reg.version,
            data.windows[name],
            tracking_uri=reg.uri,
            window_start=data.starts[name],
            window_end=data.ends[name],
            echo=said.append,
        )
        # a failed delivery is said on the console, one line per channel (critical only here)
        failed = [x for x in said if x.startswith("[alerts] channel ")]
        assert [x.split(": delivery failed: ")[0] for x in failed] == (
            ["[alerts] channel dead"] if name == "degraded" else []
        )
        assert secret not in "\n".join(said)
        assert result.health == data.expected[name]
        f1 = _outcome(client, result.run_id, "performance/f1", tmp_path / "res" / name)
        past = 0 if name == "drifted" else 1  # windows before this one, read back from MLflow
        assert f1["threshold"]["source"] == "static_fallback"  # type: ignore[index]
        assert f"{past} of 2 past values" in f1["threshold"]["note"]  # type: ignore[index]
        report = _alerts_json(client, result.run_id, tmp_path / "dl" / result.run_id)
        channels = {c["channel"]: c for c in report["channels"]}  # type: ignore[union-attr]
        chat = receiver.messages("hook")[-1]
        assert result.run_id in chat.message and "mlflow.example:5000" in chat.message
        assert "\nRun: http://mlflow.example:5000/#/experiments/" in chat.message  # the header
        assert channels["chat"]["status"] == "sent"  # type: ignore[index]
        if name == "drifted":  # warning: chat only
            assert chat.type == "warning" and receiver.messages("pager") == []
            assert channels["pager"]["status"] == "nothing_to_send"  # type: ignore[index]
        else:  # critical: the pager too
            assert channels["pager"]["status"] == "sent"  # type: ignore[index]
            page = receiver.messages("pager")[-1]
            assert page.type == "failure" and f"{model} v{reg.version}" in page.title
    chat_messages = receiver.messages("hook")
    assert len(chat_messages) == 2
    assert all(m.path == f"/hook/{secret}" for m in chat_messages)  # the secret was used
    expected_auth = "Basic " + base64.b64encode(f"oncall:{secret}".encode()).decode()
    assert [m.authorization for m in receiver.messages("pager")] == [expected_auth]

    # bad input found before any work (a column is missing): one error, no run, nothing sent
    broken = tmp_path / "broken.parquet"
    pd.read_parquet(data.windows["degraded"]).drop(columns=["age"]).to_parquet(broken)
    sent = len(receiver.messages())
    with pytest.raises(MonitorError, match="age"):
        monitor.run_window(reg.spec, reg.version, broken, tracking_uri=reg.uri)
    assert len(receiver.messages()) == sent
    # a run that fails after it started (no rows in the window): monitoring failed -> alert
    with pytest.raises(MonitorError, match="the window is empty"):
        monitor.run_window(
            reg.spec,
            reg.version,
            data.windows["degraded"],
            tracking_uri=reg.uri,
            window_start="2030-01-01T00:00:00Z",
            window_end="2030-01-08T00:00:00Z",
        )
    failure = receiver.messages("pager")[-1].message
    assert "monitoring failed" in failure and "the window is empty" in failure

    # the secret is nowhere: MLflow entities, artifacts, raw store bytes, logs, output
    logged = _everything_logged(client, model, tmp_path / "all")
    assert sum("alerts.json" in where for where, _ in logged) == 2
    assert any(where.endswith(".ipynb") for where, _ in logged)
    assert [where for where, text in logged if secret in text] == []
    store = Path(reg.uri.removeprefix("sqlite:///")).parent
    raw = [p for p in store.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert raw == []
    out, err = capfd.readouterr()
    assert secret not in caplog.text and secret not in out and secret not in err
    assert "${SECRET_TOKEN}" in caplog.text  # the delivery was logged, redacted


def _finding(value: float) -> CheckOutcome:
    return CheckOutcome(
        "perf/auc",
        "performance",
        "fail",
        "critical",
        value,
        AppliedThreshold(0.7, None, "static"),
        "auc low",
    )


def test_lease_and_state_over_http_on_postgresql(
    start_server: Callable[[str], Server], postgres_uri: str, receiver: Receiver
) -> None:
    # the psycopg2 driver (installed) rather than SQLAlchemy's psycopg 3 guess
    server = start_server(postgres_uri.replace("postgresql://", "postgresql+psycopg2://", 1))
    model = f"lease-{uuid.uuid4().hex[:8]}"
    stores = [AlertStateStore(model, "1", tracking_uri=server.uri) for _ in range(4)]
    stores[0].run_id()  # the state run exists before the race
    leases: list[Lease | None] = []
    barrier = threading.Barrier(len(stores))

    def take(store: AlertStateStore) -> None:
        barrier.wait()
        leases.append(store.acquire(ttl_seconds=60, wait_seconds=0))

    threads = [threading.Thread(target=take, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    held = [lease for lease in leases if lease is not None]
    assert len(leases) == 4 and len(held) == 1  # exactly one compare-and-set won
    stores[0].release(held[0])

    # fatigue state round-trips through the server: a retried window is not sent twice
    spec = parse_spec(
        {
            "model": model,
            "task": "regression",
            "columns": {"prediction": "p"},
            "alerts": {"channels": [{"name": "chat", "url": receiver.url("json", "chat")}]},
        }
    )
    event = RunEvent(
        model, "1", "r1", "runs:/r1", "2024-01-01", "2024-01-02", "critical", [_finding(0.5)]
    )
    first = dispatch(spec, event, tracking_uri=server.uri)
    retry = dispatch(spec, event, tracking_uri=server.uri)
    assert (first.status, retry.status) == ("sent", "nothing_to_send")
    assert len(receiver.messages("chat")) == 1

"""Health-gated promotion, its audit trail and automatic rollback, on a real SQLite MLflow store.

Most states are crafted with the contract's version tags (``monitor.health``,
``monitor.last_checked`` ...) and a real ``results.json`` on a real run; one test drives a real
baseline and monitoring runs through ``workflows.monitor_window``, with the rollback alerts
delivered by apprise to an HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.cli import main
from mlflow_monitor.contract import TAG_HEALTH, TAG_LAST_CHECKED, utc_now, utc_text
from mlflow_monitor.errors import GateRefused
from mlflow_monitor.spec import load_spec, parse_spec
from mlflow_monitor.workflows.promote import auto_rollback, history, promote
from tests.fixtures.receiver import Received, Receiver
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Store:
    uri: str
    model_uri: str
    run_id: str
    root: Path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A SQLite store holding one tiny logged sklearn model that versions are created from."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("promotion")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    rng = np.random.default_rng(0)
    x = rng.random((40, 2))
    model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("training", artifact_location=(root / "art").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            signature=mlflow.models.infer_signature(x, model.predict(x)),
            pip_requirements=["scikit-learn"],
        )
    yield Store(uri, info.model_uri, run.info.run_id, root)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP receiver on 127.0.0.1 for apprise's ``json://`` deliveries."""
    server = Receiver()
    yield server
    server.close()


def register(store: Store, name: str, versions: int) -> None:
    client = MlflowClient(store.uri, store.uri)
    client.create_registered_model(name)
    for _ in range(versions):
        client.create_model_version(name, store.model_uri, run_id=store.run_id)


def craft(
    store: Store,
    name: str,
    version: str,
    *,
    health: str,
    age: timedelta = timedelta(hours=1),
    baseline: bool = True,
    outcomes: list[dict[str, object]] | None = None,
) -> None:
    """Give a version the tags and results.json a monitoring run would have left."""
    runs = MonitorRuns(store.uri)
    tags = {
        "monitor.health": health,
        "monitor.last_checked": (datetime.now(timezone.utc) - age).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if baseline:
        base = runs.start_run(name, version, kind="baseline", run_name="baseline", tags={})
        runs.end_run(base, "FINISHED")
        tags["monitor.baseline_run_id"] = base
    window = runs.start_run(name, version, kind="window", run_name="window", tags={})
    folder = store.root / f"results-{name}-{version}"
    folder.mkdir(exist_ok=True)
    body = {
        "health": health,
        "outcomes": outcomes
        or [
            {
                "check_id": "performance/roc_auc",
                "status": "pass" if health == "healthy" else "fail",
                "severity": "critical",
                "message": "roc_auc",
                "threshold": {"source": "baseline"},
            }
        ],
    }
    (folder / "results.json").write_text(json.dumps(body))
    runs.log_file(window, folder / "results.json")
    runs.end_run(window, "FINISHED")
    tags["monitor.last_run_id"] = window
    runs.set_version_tags(name, version, tags)


def alias_of(store: Store, name: str, alias: str) -> str:
    return str(MlflowClient(store.uri, store.uri).get_model_version_by_alias(name, alias).version)


def spec_for(name: str, **gate: object) -> object:
    return parse_spec(
        {
            "model": name,
            "task": "binary_classification",
            "columns": {"prediction": "p", "numerical": ["x"]},
            "gates": {"champion": {"max_age": "7d", **gate}},
        }
    )


POLICY_FAIL: list[dict[str, object]] = [
    {"check_id": "performance/roc_auc", "status": "pass", "severity": "critical", "message": "ok"},
    {
        "check_id": "policy/four_fifths_rule/selection_rate_impact_ratio/sex=F",
        "status": "fail",
        "severity": "critical",
        "message": "selection_rate ratio 0.62 below 0.8",
        "threshold": {"source": "policy:four_fifths_rule"},
    },
]


def test_refusals_grant_override_and_history_in_order(store: Store) -> None:
    name = "gated"
    register(store, name, 5)
    craft(store, name, "1", health="critical")
    craft(store, name, "2", health="healthy", age=timedelta(days=10))
    craft(store, name, "3", health="healthy", baseline=False)
    craft(store, name, "4", health="healthy", outcomes=POLICY_FAIL)
    craft(store, name, "5", health="healthy")
    spec = spec_for(name, must_pass=["four_fifths_rule"])
    spec_no_policy = spec_for(name)

    expected = {
        "1": "health: critical",
        "2": "stale: the verdict's window ended 10.0d ago",
        "3": "baseline: none attached",
        "4": "must_pass four_fifths_rule: policy/",
    }
    for version, reason in expected.items():
        gate_spec = spec if version == "4" else spec_no_policy
        with pytest.raises(GateRefused) as refused:
            promote(gate_spec, name, version, "champion", tracking_uri=store.uri)  # type: ignore[arg-type]
        assert any(r.startswith(reason) for r in refused.value.reasons), refused.value.reasons
    assert "selection_rate ratio 0.62" in " ".join(refused.value.reasons)
    assert MlflowClient(store.uri).get_registered_model(name).aliases == {}

    granted = promote(spec_no_policy, name, "5", "champion", tracking_uri=store.uri)  # type: ignore[arg-type]
    assert granted.record.decision == "granted" and granted.record.previous_version is None
    assert alias_of(store, name, "champion") == "5"

    forced = promote(
        spec_no_policy,  # type: ignore[arg-type]
        name,
        "1",
        "champion",
        tracking_uri=store.uri,
        force=True,
        reason="hotfix for incident 42",
    )
    assert forced.forced and alias_of(store, name, "champion") == "1"
    assert forced.record.override_reason == "hotfix for incident 42"
    assert forced.record.reasons[0].startswith("health: critical")

    records = history(name, tracking_uri=store.uri)
    assert [(r.decision, r.version) for r in records] == [
        ("refused", "1"),
        ("refused", "2"),
        ("refused", "3"),
        ("refused", "4"),
        ("granted", "5"),
        ("forced", "1"),
    ]
    assert records[-1].previous_version == "5"
    assert all(r.user and r.at for r in records)
    assert records[3].evidence is not None
    assert records[3].evidence.not_passing == (
        "policy/four_fifths_rule/selection_rate_impact_ratio/sex=F=fail",
    )


RULE = "policy/four_fifths_rule/selection_rate_impact_ratio"


def rule_outcome(group: str, status: str, **extra: object) -> dict[str, object]:
    """A four-fifths rule check of ``race=<group>`` as results.json holds it."""
    return {
        "check_id": f"{RULE}/race={group}",
        "kind": "policy",
        "status": status,
        "severity": "critical",
        **extra,
    }


SMALL = {"size": 12, "note": "selection rate rests on 12 rows < minimum 30"}
SMALL_GROUPS: list[dict[str, object]] = [
    {"check_id": "performance/roc_auc", "status": "pass", "severity": "critical", "message": "ok"},
    *[rule_outcome(g, "pass") for g in "abcde"],
    *[rule_outcome(g, "insufficient_data", evidence=SMALL) for g in "xy"],
]


def test_gate_card_and_status_agree_that_small_groups_are_not_judged(
    store: Store, tmp_path: Path
) -> None:
    """must_pass policy: insufficient data refuses as not judged; card and status count it so."""
    from mlflow_monitor.workflows.model_cards import write_card
    from mlflow_monitor.workflows.status import status_rows

    name = "small-groups"
    register(store, name, 1)
    craft(store, name, "1", health="healthy", outcomes=SMALL_GROUPS)
    spec = spec_for(name, must_pass=["policy"])
    counted = "7 rule checks: 5 pass, 2 insufficient data (not judged)"

    with pytest.raises(GateRefused) as refused:
        promote(spec, name, "1", "champion", tracking_uri=store.uri)  # type: ignore[arg-type]
    reasons = refused.value.reasons
    # no "3 reason(s)": the first line sums up the two under it
    assert str(refused.value) == f"promotion of {name} version 1 to @champion refused"
    assert reasons[0] == f"must_pass policy: {counted}"
    assert reasons[1:] == [
        f"must_pass policy: {RULE}/race={g} not judged: insufficient data "
        "(selection rate rests on 12 rows < minimum 30)"
        for g in "xy"
    ]
    written = write_card(spec, name, "1", tmp_path, tracking_uri=store.uri, publish=False)  # type: ignore[arg-type]
    card = written.markdown.read_text()
    assert f"- **Policy status:** {counted}" in card and "passing" not in card
    (row,) = status_rows(name, tracking_uri=store.uri)
    assert row.policy_checks == counted and row.health == "healthy" and row.failing == ()
    assert promote(spec_for(name), name, "1", "champion", tracking_uri=store.uri).record  # type: ignore[arg-type]


def test_cli_exit_codes_and_history(store: Store, tmp_path: Path) -> None:
    name = "cli-gated"
    register(store, name, 2)
    craft(store, name, "1", health="healthy")
    craft(store, name, "2", health="critical")
    spec = tmp_path / "monitor.yaml"
    spec.write_text(
        f"model: {name}\ntask: regression\ncolumns: {{prediction: p, numerical: [x]}}\n"
        "gates:\n  champion: {max_age: 7d}\n"
    )
    runner = CliRunner()
    base = ["--tracking-uri", store.uri, "--model", name, "--alias", "champion"]

    ok = runner.invoke(main, ["promote", *base, "--version", "1", "--spec", str(spec)])
    assert ok.exit_code == 0, ok.output
    assert "granted" in ok.output

    refused = runner.invoke(main, ["promote", *base, "--version", "2", "--spec", str(spec)])
    assert refused.exit_code == 1
    lines = refused.output.splitlines()
    assert lines[0] == f"promotion of {name} version 2 to @champion refused:"
    assert lines[1].startswith("  - health: critical")
    assert "reason(s)" not in refused.output

    bad = runner.invoke(main, ["promote", *base, "--version", "2", "--force"])
    assert bad.exit_code == 2 and "--reason" in bad.output
    missing = runner.invoke(main, ["promote", *base, "--version", "9"])
    assert missing.exit_code == 2 and f"{name}/9 not found" in missing.output

    forced = runner.invoke(
        main, ["promote", *base, "--version", "2", "--force", "--reason", "rollback drill"]
    )
    assert forced.exit_code == 0 and "FORCED" in forced.output

    shown = runner.invoke(main, ["history", "--tracking-uri", store.uri, "--model", name])
    assert shown.exit_code == 0
    lines = [ln for ln in shown.output.splitlines() if ln[:4].isdigit()]
    assert [ln.split()[1] for ln in lines] == ["granted", "refused", "forced"]
    assert "override reason: rollback drill" in shown.output


def test_auto_rollback_moves_back_and_stays_without_healthy_predecessor(store: Store) -> None:
    name = "rolling"
    register(store, name, 3)
    for version in ("1", "2", "3"):
        craft(store, name, version, health="healthy")
    spec = spec_for(name, auto_rollback=True)
    for version in ("1", "2", "3"):
        promote(spec, name, version, "champion", tracking_uri=store.uri)  # type: ignore[arg-type]
    assert alias_of(store, name, "champion") == "3"

    craft(store, name, "2", health="warning")  # the latest predecessor is no longer healthy
    craft(store, name, "3", health="critical")
    assert auto_rollback(spec, name, "3", "warning", tracking_uri=store.uri) is None  # type: ignore[arg-type]
    result = auto_rollback(spec, name, "3", "critical", tracking_uri=store.uri)  # type: ignore[arg-type]
    assert result is not None and result.moved
    assert result.steps[0].to_version == "1"
    assert "rolled back from version 3 (critical) to 1" in result.message
    assert alias_of(store, name, "champion") == "1"

    craft(store, name, "1", health="critical")
    stuck = auto_rollback(spec, name, "1", "critical", tracking_uri=store.uri)  # type: ignore[arg-type]
    assert stuck is not None and not stuck.moved
    assert "stays on version 1" in stuck.message and "no previous holder" in stuck.message
    assert alias_of(store, name, "champion") == "1"
    assert auto_rollback(spec, name, "2", "critical", tracking_uri=store.uri) is None  # type: ignore[arg-type]

    decisions = [
        (r.decision, r.version, r.previous_version) for r in history(name, tracking_uri=store.uri)
    ]
    assert decisions[-2:] == [("rollback", "1", "3"), ("rollback_skipped", "1", "1")]


def test_rollback_needs_auto_rollback_in_the_gate(store: Store) -> None:
    name = "manual"
    register(store, name, 2)
    craft(store, name, "1", health="healthy")
    craft(store, name, "2", health="healthy")
    spec = spec_for(name)  # auto_rollback false
    promote(spec, name, "1", "champion", tracking_uri=store.uri)  # type: ignore[arg-type]
    promote(spec, name, "2", "champion", tracking_uri=store.uri)  # type: ignore[arg-type]
    assert auto_rollback(spec, name, "2", "critical", tracking_uri=store.uri) is None  # type: ignore[arg-type]
    assert alias_of(store, name, "champion") == "2"


def test_real_degraded_window_rolls_the_champion_back_and_alerts(
    store: Store, tmp_path: Path, receiver: Receiver
) -> None:
    """A real baseline and real degraded monitoring runs (papermill) trigger the rollback.

    The first critical run moves @champion back to v1 and apprise delivers the rollback to a
    receiver on 127.0.0.1; once v1 is critical too, the next critical run of v2 moves nothing and
    the alert says so.
    """
    from mlflow_monitor.workflows import demo
    from mlflow_monitor.workflows import monitor_window as monitor
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    name = "real-rollback"
    register(store, name, 2)
    spec_path = demo.write_demo_spec(tmp_path / "monitor.yaml", model=name)
    spec_path.write_text(
        spec_path.read_text()
        + "gates:\n  champion:\n    auto_rollback: true\n"
        + f"alerts:\n  channels:\n    - {{url: '{receiver.url('json', 'oncall')}', "
        + "min_severity: critical, name: oncall}\n"
    )
    model = demo.train_churn_model(demo.make_churn(3000, seed=1, start=demo.START))
    reference = demo.score(model, demo.make_churn(2000, seed=2, start=demo.START))
    reference.to_parquet(tmp_path / "reference.parquet", index=False)
    craft(store, name, "1", health="healthy")
    build_baseline_run(spec_path, "2", tmp_path / "reference.parquet", tracking_uri=store.uri)
    fresh = utc_text(utc_now())  # as a healthy window ending now leaves it
    MlflowClient(tracking_uri=store.uri).set_model_version_tag(name, "2", TAG_HEALTH, "healthy")
    MlflowClient(tracking_uri=store.uri).set_model_version_tag(name, "2", TAG_LAST_CHECKED, fresh)
    spec = load_spec(spec_path)
    promote(spec, name, "1", "champion", tracking_uri=store.uri)
    promote(spec, name, "2", "champion", tracking_uri=store.uri)
    assert alias_of(store, name, "champion") == "2"

    plan, frame = demo.demo_windows(1500)[2]
    assert plan.name == "degraded"
    window = tmp_path / "degraded.parquet"
    demo.score(model, frame).to_parquet(window, index=False)

    def degraded_run() -> monitor.WindowRun:
        receiver.clear()
        return monitor.run_window(
            spec_path,
            "2",
            window,
            tracking_uri=store.uri,
            window_start=plan.start,
            window_end=plan.start + timedelta(days=7),
        )

    result = degraded_run()
    assert result.health == "critical"
    assert alias_of(store, name, "champion") == "1"
    last = history(name, tracking_uri=store.uri)[-1]
    assert (last.decision, last.version, last.previous_version) == ("rollback", "1", "2")
    assert "rolled back from version 2 (critical) to 1" in last.reasons[0]
    rollback = rollback_message(receiver)
    assert f"{name}@champion rolled back from version 2 (critical) to 1" in rollback.title
    assert "nothing moved" not in rollback.title and rollback.type == "failure"
    logged = rollback_report(store, result.run_id, tmp_path / "first")
    assert logged["status"] == "sent" and logged["channels"][0]["status"] == "sent"

    craft(store, name, "1", health="critical")  # the only predecessor is no longer healthy
    promote(spec, name, "2", "champion", tracking_uri=store.uri, force=True, reason="drill")
    stuck = degraded_run()
    assert stuck.health == "critical" and alias_of(store, name, "champion") == "2"
    assert history(name, tracking_uri=store.uri)[-1].decision == "rollback_skipped"
    message = rollback_message(receiver)
    assert "no healthy predecessor, nothing moved" in message.title
    assert f"{name}@champion stays on version 2 (critical)" in message.message
    assert rollback_report(store, stuck.run_id, tmp_path / "second")["status"] == "sent"


def rollback_message(receiver: Receiver) -> Received:
    """The one rollback alert among what the on-call channel received during one run."""
    found = [m for m in receiver.messages("oncall") if "[mlflow-monitor]" in m.title]
    assert len(found) == 1, [m.title for m in receiver.messages()]
    return found[0]


def rollback_report(store: Store, run_id: str, folder: Path) -> dict[str, Any]:
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id,
        artifact_path="rollback_alerts.json",
        dst_path=str(folder),
        tracking_uri=store.uri,
    )
    body: dict[str, Any] = json.loads(Path(path).read_text())
    return body


def test_gate_audit_and_card_over_http_server_on_postgresql(
    start_server: Callable[[str], Server], postgres_uri: str, tmp_path: Path
) -> None:
    """The same records through a real `mlflow server` (HTTP, proxied artifacts, PostgreSQL)."""
    from mlflow_monitor.workflows.model_cards import refresh_card

    server = start_server(postgres_uri.replace("postgresql://", "postgresql+psycopg2://", 1))
    client = MlflowClient(server.uri, server.uri)
    experiment = client.create_experiment("training")
    source = client.create_run(experiment)
    client.set_terminated(source.info.run_id)
    name = "served"
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(
            name,
            f"{source.info.artifact_uri}/model",
            run_id=source.info.run_id,
            description="Team text.",
        )
    http = Store(server.uri, "", source.info.run_id, tmp_path)
    craft(http, name, "1", health="healthy")
    craft(http, name, "2", health="healthy")
    spec = spec_for(name, require_card=True, auto_rollback=True)

    with pytest.raises(GateRefused) as refused:
        promote(spec, name, "1", "champion", tracking_uri=server.uri)  # type: ignore[arg-type]
    assert refused.value.reasons == [
        "card: no model card attached: run `mlflow-monitor card` or a monitoring window"
    ]
    for version in ("1", "2"):
        window = client.get_model_version(name, version).tags["monitor.last_run_id"]
        card = refresh_card(spec, name, version, window, tracking_uri=server.uri)  # type: ignore[arg-type]
        assert (
            card.card_run_id
            == client.get_model_version(name, version).tags["monitor.baseline_run_id"]
        )
        promote(spec, name, version, "champion", tracking_uri=server.uri)  # type: ignore[arg-type]
    description = client.get_model_version(name, "2").description
    assert description.startswith("Team text.\n\n<!-- mlflow-monitor:card:start -->")

    craft(http, name, "2", health="critical")
    result = auto_rollback(spec, name, "2", "critical", tracking_uri=server.uri)  # type: ignore[arg-type]
    assert result is not None and result.moved
    assert alias_of(http, name, "champion") == "1"
    assert [(r.decision, r.version) for r in history(name, tracking_uri=server.uri)] == [
        ("refused", "1"),
        ("granted", "1"),
        ("granted", "2"),
        ("rollback", "1"),
    ]

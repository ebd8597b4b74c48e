"""``workflows.fleet_view`` on a real SQLite store: which versions are the fleet, in which order.

A version is monitored when it carries a ``monitor.*`` tag; rows come worst health first (a
version whose every attempt failed reads ``failed``); aliases come from the registered models;
the top finding is the version's ``monitor.top_finding`` tag, else the verdict run's
``results.json``. The alerts page's rows come from each window's ``alerts.json``, a channel's
address cut to ``scheme://host`` (its path or query may hold a token).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.contract import (
    AppliedThreshold,
    CheckOutcome,
    MetricValue,
    WindowResults,
)
from mlflow_monitor.workflows.fleet_view import alert_rows, fleet_rows, health_summary
from mlflow_monitor.workflows.version_trends import ArtifactCache

WINDOW = ("2025-03-03T00:00:00Z", "2025-03-10T00:00:00Z")


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _version(client: MlflowClient, model: str, tags: dict[str, str]) -> str:
    if not client.search_registered_models(f"name = '{model}'"):
        client.create_registered_model(model)
    version = str(
        client.create_model_version(model, source=(Path.cwd() / "unused-model").as_uri()).version
    )
    for key, value in tags.items():
        client.set_model_version_tag(model, version, key, value)
    return version


def _window_run(
    client: MlflowClient, tmp_path: Path, model: str, *, alerts: object, partial: bool = False
) -> str:
    """A finished window run of ``model`` v1 with a warning ``results.json`` and ``alerts``."""
    name = f"monitor/{model}"
    found = client.get_experiment_by_name(name)
    experiment = (
        found.experiment_id
        if found
        else client.create_experiment(name, artifact_location=(tmp_path / "artifacts").as_uri())
    )
    tags = {
        "monitor.kind": "window",
        "monitor.model_name": model,
        "monitor.model_version": "1",
        "monitor.window_start": WINDOW[0],
        "monitor.window_end": WINDOW[1],
        "monitor.health": "warning",
    }
    run_id = str(client.create_run(experiment, tags=tags).info.run_id)
    outcome = CheckOutcome(
        check_id="drift/age",
        kind="drift",
        status="warn",
        severity="warning",
        value=0.3,
        threshold=AppliedThreshold(None, 0.2, "static"),
        message="age psi 0.30 above 0.20",
        metric="psi",
    )
    unlabelled = CheckOutcome(  # a critical check with no labels to evaluate it on
        check_id="performance/roc_auc",
        kind="performance",
        status="not_evaluated",
        severity="critical",
        value=None,
        threshold=None,
        message="no labels in the window",
        metric="roc_auc",
    )
    results = WindowResults(
        model=model,
        model_version="1",
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        rows=100,
        health="warning",
        outcomes=(outcome, unlabelled) if partial else (outcome,),
        metrics=(MetricValue("drift/age/psi", 0.3),),
    )
    client.log_dict(run_id, results.to_dict(), "results.json")
    client.log_text(run_id, json.dumps(alerts), "alerts.json")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def test_rows_are_the_monitored_versions_worst_first(
    client: MlflowClient, tracking_uri: str
) -> None:
    _version(client, "churn", {"monitor.health": "healthy"})
    _version(client, "churn", {"monitor.health": "critical", "monitor.top_finding": "perf: down"})
    _version(client, "churn", {"team": "not monitored"})
    _version(client, "fraud", {"monitor.last_error": "window file missing"})
    _version(client, "fraud", {"monitor.baseline_run_id": "abc"})
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "challenger", "2")

    rows = fleet_rows(tracking_uri=tracking_uri)

    order = [(r.model, r.version, r.health) for r in rows]
    assert order == [
        ("churn", "2", "critical"),
        ("fraud", "1", "failed"),
        ("fraud", "2", "unknown"),
        ("churn", "1", "healthy"),
        ("churn", "3", "no baseline"),  # a version of a monitored model, as `status` lists it
    ]
    assert rows[0].top_finding == "perf: down"
    assert rows[0].aliases == ("challenger",)
    assert rows[-2].aliases == ("champion",)
    assert rows[1].last_error == "window file missing"
    assert health_summary(rows) == (
        ("critical", 1),
        ("failed", 1),
        ("unknown", 1),
        ("healthy", 1),
        ("no baseline", 1),
    )
    assert [r.partial for r in rows] == [False] * 5
    assert health_summary(rows[:1] * 2 + rows[-2:-1]) == (("critical", 2), ("healthy", 1))


def test_top_finding_falls_back_to_the_verdict_results(
    client: MlflowClient, tracking_uri: str, tmp_path: Path
) -> None:
    run_id = _window_run(client, tmp_path, "churn", alerts={"status": "no_channels"})
    _version(client, "churn", {"monitor.health": "warning", "monitor.last_run_id": run_id})

    [row] = fleet_rows(tracking_uri=tracking_uri, cache=ArtifactCache())

    assert row.top_finding == "drift/age: age psi 0.30 above 0.20"
    assert row.last_run_id == run_id


def test_alert_rows_say_what_each_channel_was_sent(
    client: MlflowClient, tracking_uri: str, tmp_path: Path
) -> None:
    alerts = {
        "status": "sent",
        "channels": [
            {
                "channel": "oncall",
                "url": "json://bot:s3cret@hooks.example.com:8443/T0/B1/tok?token=abc",
                "status": "sent",
                "severity": "warning",
                "reason": "",
                "items": [{"check_id": "drift/age"}],
            },
            {"channel": "mail", "url": "not a url", "status": "failed", "reason": "refused"},
        ],
    }
    run_id = _window_run(client, tmp_path, "churn", alerts=alerts)
    _version(client, "churn", {"monitor.health": "warning", "monitor.last_run_id": run_id})

    rows = alert_rows(["churn"], tracking_uri=tracking_uri, cache=ArtifactCache())

    assert [(r.channel, r.status, r.checks) for r in rows] == [
        ("oncall", "sent", ("drift/age",)),
        ("mail", "failed", ()),
    ]
    assert rows[0].url == "json://hooks.example.com:8443"  # no user, password, path or query
    assert rows[1].url is None  # nothing of an address that is not a URL
    assert rows[1].reason == "refused"
    assert {r.window_end for r in rows} == {WINDOW[1]}


def test_partial_comes_from_the_version_tag_else_from_the_verdict_results(
    client: MlflowClient, tracking_uri: str, tmp_path: Path
) -> None:
    run_id = _window_run(client, tmp_path, "churn", alerts={}, partial=True)
    whole = _window_run(client, tmp_path, "churn", alerts={})
    verdict = {"monitor.health": "warning", "monitor.last_run_id": run_id}
    _version(client, "churn", verdict)  # v1: no monitor.partial tag (an older verdict)
    _version(client, "churn", {**verdict, "monitor.partial": "true"})
    _version(client, "churn", {**verdict, "monitor.partial": ""})  # the tag says: not partial
    _version(client, "churn", {**verdict, "monitor.last_run_id": whole})

    rows = fleet_rows(tracking_uri=tracking_uri, cache=ArtifactCache())

    assert {r.version: r.partial for r in rows} == {"1": True, "2": True, "3": False, "4": False}
    assert all(r.to_dict()["partial"] is r.partial for r in rows)

"""Prometheus ``/metrics`` of the dashboard: the standalone app and inside ``mlflow server``.

The session's demo store (churn-classifier v1, its last window critical) is scraped from
``mlflow-monitor ui`` (``/metrics`` and ``/monitor/metrics``) and from a real
``mlflow server --app-name monitor --expose-prometheus`` over a copy of it, where MLflow's own
exporter keeps ``/metrics`` and the fleet's series are at ``/monitor/metrics``. The text is read
with ``prometheus_client``'s own parser, and every value is checked against the store's tags.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from mlflow_monitor.contract import TAG_SLO, parse_utc
from tests.ui.conftest import DEMO_MODEL, DEMO_VERSION, App, DemoStore
from tests.ui.test_plugin import (
    MLFLOW,
    Server,
    _environment,
    _free_port,
    _get,
    _stop,
    _wait_healthy,
)

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str) -> tuple[Samples, str]:
    """Every sample of the exposition by sample name, and the content type."""
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.status == 200
        text = response.read().decode()
        kind = response.headers["Content-Type"]
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples, kind


def only(samples: Samples, name: str, **labels: str) -> float:
    found = [v for held, v in samples.get(name, []) if labels.items() <= held.items()]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def demo_tags(store: DemoStore) -> dict[str, str]:
    return dict(MlflowClient(store.tracking_uri).get_model_version(DEMO_MODEL, DEMO_VERSION).tags)


def test_the_health_gauge_is_the_versions_tag(app: App, demo_store: DemoStore) -> None:
    samples, kind = scrape(app.url("/metrics"))
    assert kind.startswith("text/plain")
    tags = demo_tags(demo_store)
    health = {"healthy": 0, "warning": 1, "critical": 2}[tags["monitor.health"]]
    v = {"model": DEMO_MODEL, "version": DEMO_VERSION}
    assert only(samples, "mlflow_monitor_health", **v) == health == 2  # the demo ends critical
    assert only(samples, "mlflow_monitor_health_state", **v, state="critical") == 1
    assert only(samples, "mlflow_monitor_health_state", **v, state="healthy") == 0
    ended = parse_utc(tags["monitor.window_end"]).timestamp()
    assert only(samples, "mlflow_monitor_window_end_timestamp_seconds", **v) == ended
    checked = parse_utc(tags["monitor.last_checked"]).timestamp()
    age = only(samples, "mlflow_monitor_verdict_age_seconds", **v)
    assert age >= 0 and abs(age - (parse_utc(_now_text()).timestamp() - checked)) < 120
    assert only(samples, "mlflow_monitor_partial", **v) == float(
        tags.get("monitor.partial") == "true"
    )
    assert only(samples, "mlflow_monitor_last_error", **v) == float(
        bool(tags.get("monitor.last_error"))
    )
    results = _results(demo_store, tags["monitor.last_run_id"])
    critical = [f for f in results["outcomes"] if f["severity"] == "critical" and _firing(f)]
    assert only(samples, "mlflow_monitor_firing_checks", **v, severity="critical") == len(critical)
    assert len(critical) >= 1
    assert TAG_SLO not in tags  # the demo judges no SLO: no SLO series, the families still listed
    assert samples.get("mlflow_monitor_slo_budget_remaining_ratio") is None
    alias_label = [held["aliases"] for held, _ in samples["mlflow_monitor_health"]]
    assert alias_label == [",".join(sorted(_aliases(demo_store)))]


def test_both_paths_serve_the_same_series_and_unknown_paths_do_not(app: App) -> None:
    root, _ = scrape(app.url("/metrics"))
    prefixed, _ = scrape(app.url("/monitor/metrics"))
    assert root.keys() == prefixed.keys()
    assert only(root, "mlflow_monitor_health", model=DEMO_MODEL) == only(
        prefixed, "mlflow_monitor_health", model=DEMO_MODEL
    )
    status, _, _ = _get(app.url("/monitor/metrics/x"))
    assert status == 404


# -- inside `mlflow server --app-name monitor --expose-prometheus` --------------------------------
@pytest.fixture(scope="module")
def exposing_server(
    demo_store: DemoStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("metrics-plugin")
    shutil.copyfile(demo_store.folder / "mlflow.db", folder / "mlflow.db")
    prometheus = folder / "prometheus"
    env = _environment()
    server = _start_exposing(folder, prometheus, env)
    yield server
    _stop(server)


def _start_exposing(folder: Path, prometheus: Path, env: dict[str, str]) -> Server:
    """``mlflow server --app-name monitor`` as ``tests.ui.test_plugin`` starts it, with MLflow's
    Prometheus exporter on (``--expose-prometheus``)."""
    log = folder / "monitor.log"
    command = [
        str(MLFLOW), "server", "--app-name", "monitor",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--host", "127.0.0.1", "--port", str(_free_port()), "--workers", "1",
        "--expose-prometheus", str(prometheus),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=out, cwd=folder, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{command[command.index('--port') + 1]}", process, log)
    try:
        _wait_healthy(server)
    except BaseException:
        _stop(server)
        raise
    return server


def test_mlflow_keeps_metrics_and_the_fleet_is_at_monitor_metrics(
    exposing_server: Server, demo_store: DemoStore
) -> None:
    status, mlflow_text, _ = _get(exposing_server.base + "/metrics")
    assert status == 200
    mlflow_names = {f.name for f in text_string_to_metric_families(mlflow_text)}
    assert not any(name.startswith("mlflow_monitor_") for name in mlflow_names)
    assert "mlflow_exporter_info" in mlflow_names, mlflow_names  # prometheus_flask_exporter's
    samples, _ = scrape(exposing_server.base + "/monitor/metrics")
    tags = demo_tags(demo_store)
    health = {"healthy": 0, "warning": 1, "critical": 2}[tags["monitor.health"]]
    assert only(samples, "mlflow_monitor_health", model=DEMO_MODEL, version=DEMO_VERSION) == health


# -- helpers ---------------------------------------------------------------------------------------
def _now_text() -> str:
    from mlflow_monitor.contract import utc_now, utc_text

    return utc_text(utc_now())


def _results(store: DemoStore, run_id: str) -> dict[str, object]:
    local = MlflowClient(store.tracking_uri).download_artifacts(
        run_id, "results.json", str(store.folder / f"scrape-{run_id}")
    )
    body: dict[str, object] = json.loads(Path(local).read_text())
    return body


def _firing(outcome: object) -> bool:
    from mlflow_monitor.contract import CheckOutcome

    return CheckOutcome.from_dict(outcome).firing  # type: ignore[arg-type]


def _aliases(store: DemoStore) -> list[str]:
    model = MlflowClient(store.tracking_uri).get_registered_model(DEMO_MODEL)
    return [alias for alias, version in (model.aliases or {}).items() if version == DEMO_VERSION]


# -- in process: the SLO tag, label escaping, an unreadable store ----------------------------------
SLO_TAG = json.dumps(
    {
        "at": "2025-01-27T00:00:00Z",
        "slos": [
            {
                "name": "auc-floor",
                "sli": 0.9,
                "target": 0.95,
                "remaining": -0.25,
                "burn": {"fast": [15.5, 20.0], "slow": [None, 0.5]},
                "firing": ["fast"],
            }
        ],
    }
)


def test_slo_series_come_from_the_tag_and_labels_are_escaped(tracking_uri: str) -> None:
    from mlflow_monitor.ui import create_app

    model = 'fraud "eu"\\west'
    client = MlflowClient(tracking_uri)
    client.create_registered_model(model)
    client.create_model_version(model, source="/nowhere")
    tags = {"monitor.health": "warning", "monitor.slo": SLO_TAG, "monitor.partial": "true"}
    tags |= {"monitor.window_end": "2025-01-27T00:00:00Z"}
    for key, value in tags.items():
        client.set_model_version_tag(model, "1", key, value)
    response = create_app(tracking_uri=tracking_uri).test_client().get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'model="fraud \\"eu\\"\\\\west"' in text  # the exposition's escaping
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    v = {"model": model, "version": "1"}
    assert only(samples, "mlflow_monitor_health", **v) == 1
    assert only(samples, "mlflow_monitor_partial", **v) == 1
    assert only(samples, "mlflow_monitor_last_error", **v) == 0
    assert "mlflow_monitor_verdict_age_seconds" not in samples  # no monitor.last_checked
    budget = only(samples, "mlflow_monitor_slo_budget_remaining_ratio", **v, slo="auc-floor")
    assert budget == -0.25
    burn = "mlflow_monitor_slo_burn_rate"
    assert only(samples, burn, **v, slo="auc-floor", tier="fast", window="long") == 15.5
    assert only(samples, burn, **v, slo="auc-floor", tier="fast", window="short") == 20.0
    assert only(samples, burn, **v, slo="auc-floor", tier="slow", window="short") == 0.5
    assert len(samples[burn]) == 3  # a rate the tag holds as null is no sample


def test_an_unreadable_store_is_a_503_not_stale_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow_monitor.ui import create_app

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    app = create_app(tracking_uri=f"http://127.0.0.1:{_free_port()}")
    response = app.test_client().get("/monitor/metrics")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert body.startswith("mlflow-monitor: the store cannot be read:")
    assert body.count("\n") == 1 and "mlflow_monitor_health" not in body

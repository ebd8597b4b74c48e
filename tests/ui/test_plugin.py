"""The dashboard inside a real ``mlflow server``: ``--app-name monitor`` and ``monitor-basic-auth``.

One server of each kind is started for the module (SQLite backend, ``--serve-artifacts`` with an
``--artifacts-destination`` in ``tmp_path``, a free port of 127.0.0.1; killed in teardown). A
monitored version is written through the server's own HTTP API, so its run's artifact root is
``mlflow-artifacts:/...``: the dashboard must read those files in-process from the destination
(the fleet's top finding comes from the run's ``results.json``, the version has no
``monitor.top_finding`` tag), while MLflow's UI and REST API keep answering beside it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.contract import (
    AppliedThreshold,
    CheckOutcome,
    MetricValue,
    WindowResults,
)

MLFLOW = Path(sys.executable).parent / "mlflow"
MODEL = "fleet-model"
ADMIN = "admin"
PASSWORD = "monitor-admin-password-1234"
START_SECONDS = 120.0
WINDOW = ("2025-03-03T00:00:00Z", "2025-03-10T00:00:00Z")


@dataclass(frozen=True)
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass(frozen=True)
class Store:
    """The store both servers serve, and the monitored run written into it."""

    folder: Path
    run_id: str
    experiment_id: str


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "_MLFLOW"))}
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",  # no job runner processes to start and reap
        **extra,
    )
    return env


def _start(app_name: str, folder: Path, env: dict[str, str]) -> Server:
    port = _free_port()
    log = folder / f"{app_name}.log"
    command = [
        str(MLFLOW), "server", "--app-name", app_name,
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=out, cwd=folder, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_healthy(server)
    except BaseException:
        _stop(server)
        raise
    return server


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"mlflow server exited:\n{server.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(server.base + "/health", timeout=10) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"mlflow server did not answer:\n{server.log.read_text()[-3000:]}")


def _stop(server: Server) -> None:
    """Terminate the server's process group (mlflow and its uvicorn child), then reap it."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=15)


def _get(url: str, *, auth: tuple[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode(), _lowered(response.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace"), _lowered(error.headers.items())


def _lowered(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def _results() -> dict[str, object]:
    """A critical window: roc_auc 0.61 under its baseline band (>= 0.70)."""
    outcome = CheckOutcome(
        check_id="performance/roc_auc",
        kind="performance",
        status="fail",
        severity="critical",
        value=0.61,
        threshold=AppliedThreshold(0.70, None, "baseline"),
        message="roc_auc 0.61 below its allowed 0.70",
        metric="roc_auc",
    )
    results = WindowResults(
        model=MODEL,
        model_version="1",
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        rows=500,
        health="critical",
        outcomes=(outcome,),
        metrics=(MetricValue("perf/roc_auc", 0.61),),
    )
    return results.to_dict()


def _write_monitored_version(base: str) -> tuple[str, str]:
    """Through the server's HTTP API: a finished window run with its files, a version whose
    tags point at it (no top-finding tag), and @champion on it."""
    client = MlflowClient(tracking_uri=base, registry_uri=base)
    experiment_id = client.create_experiment(f"monitor/{MODEL}")
    tags = {
        "monitor.kind": "window",
        "monitor.model_name": MODEL,
        "monitor.model_version": "1",
        "monitor.window_start": WINDOW[0],
        "monitor.window_end": WINDOW[1],
        "monitor.health": "critical",
    }
    run = client.create_run(experiment_id, tags=tags)
    run_id = run.info.run_id
    assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
    client.log_dict(run_id, _results(), "results.json")
    client.log_text(run_id, "<html><body><h1>drift report</h1></body></html>", "reports/drift.html")
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    client.log_text(run_id, json.dumps(notebook), "notebooks/monitor.ipynb")
    client.set_terminated(run_id, "FINISHED")
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, source=f"{run.info.artifact_uri}/model", run_id=run_id)
    for key, value in {
        "monitor.health": "critical",
        "monitor.last_run_id": run_id,
        "monitor.window_start": WINDOW[0],
        "monitor.window_end": WINDOW[1],
        "monitor.last_checked": "2025-03-10T01:00:00Z",
    }.items():
        client.set_model_version_tag(MODEL, "1", key, value)
    client.set_registered_model_alias(MODEL, "champion", "1")
    return run_id, experiment_id


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> Path:
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "mlflow.db").write_bytes(_empty_store.read_bytes())
    return folder


@pytest.fixture(scope="module")
def monitor_server(folder: Path) -> Iterator[tuple[Server, Store]]:
    server = _start("monitor", folder, _environment())
    try:
        run_id, experiment_id = _write_monitored_version(server.base)
        yield server, Store(folder, run_id, experiment_id)
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def auth_server(monitor_server: tuple[Server, Store]) -> Iterator[Server]:
    """``monitor-basic-auth`` over the same store, its users in a database of its own."""
    _, store = monitor_server
    ini = _auth_config(store.folder)
    env = _environment(
        MLFLOW_AUTH_CONFIG_PATH=str(ini),
        MLFLOW_AUTH_ADMIN_PASSWORD=PASSWORD,
        MLFLOW_FLASK_SERVER_SECRET_KEY="monitor-test-secret-key",
    )
    server = _start("monitor-basic-auth", store.folder, env)
    yield server
    _stop(server)


def _auth_config(folder: Path) -> Path:
    """MLflow's own ``basic_auth.ini`` with its user database moved into the test's folder."""
    from mlflow.server import auth

    shipped = (Path(auth.__file__).parent / "basic_auth.ini").read_text()
    users = f"database_uri = sqlite:///{folder / 'users.db'}"
    ini = folder / "basic_auth.ini"
    ini.write_text(re.sub(r"(?m)^database_uri = .*$", users, shipped))
    return ini


# -- mlflow server --app-name monitor ------------------------------------------------------------
def test_the_fleet_and_mlflow_answer_from_one_server(monitor_server: tuple[Server, Store]) -> None:
    server, _ = monitor_server
    status, html, _ = _get(server.base + "/monitor/")
    assert status == 200, html[-2000:]
    [row] = re.findall(r'<tr class="fleet-row"[^>]*>.*?</tr>', html, re.S)
    assert f'data-model="{MODEL}"' in row and 'data-health="critical"' in row
    assert "@champion" in row
    assert "roc_auc 0.61 below its allowed 0.70" in row  # read from the proxied results.json
    status, body, _ = _get(server.base + f"/api/2.0/mlflow/registered-models/get?name={MODEL}")
    assert status == 200 and json.loads(body)["registered_model"]["name"] == MODEL
    status, _, _ = _get(server.base + "/")  # MLflow's own UI
    assert status == 200


def test_version_page_reads_the_proxied_artifacts(monitor_server: tuple[Server, Store]) -> None:
    server, store = monitor_server
    status, html, _ = _get(server.base + f"/monitor/models/{MODEL}/versions/1")
    assert status == 200, html[-2000:]
    assert re.search(r'data-metric="perf/roc_auc" data-crossings="1"', html)
    mlflow_link = f'href="/#/experiments/{store.experiment_id}/runs/{store.run_id}"'
    assert mlflow_link in html  # same origin: the MLflow UI of this server
    notebooks = re.findall(r'<a class="notebook-link" href="([^"]+)"', html)
    assert notebooks == [f"/monitor/runs/{store.run_id}/artifacts/notebooks/monitor.ipynb"]
    status, report, headers = _get(
        server.base + f"/monitor/runs/{store.run_id}/artifacts/reports/drift.html"
    )
    assert status == 200 and "drift report" in report
    assert headers["content-security-policy"].startswith("sandbox")


# -- mlflow server --app-name monitor-basic-auth -------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/monitor/", "/monitor/api/fleet", "/api/2.0/mlflow/experiments/search?max_results=5"]
)
def test_basic_auth_guards_the_dashboard_and_mlflow_alike(auth_server: Server, path: str) -> None:
    assert _get(auth_server.base + path)[0] == 401
    assert _get(auth_server.base + path, auth=(ADMIN, "not-the-password"))[0] == 401
    status, body, _ = _get(auth_server.base + path, auth=(ADMIN, PASSWORD))
    assert status == 200, body[-2000:]


def test_the_admin_sees_the_fleet_behind_the_login(auth_server: Server) -> None:
    status, body, _ = _get(auth_server.base + "/monitor/api/fleet", auth=(ADMIN, PASSWORD))
    assert status == 200
    [row] = json.loads(body)["rows"]
    assert (row["model"], row["health"], row["aliases"]) == (MODEL, "critical", ["champion"])


def test_other_users_are_refused_while_mlflow_fails_closed(auth_server: Server) -> None:
    """MLflow 3.17 fails closed by default: routes it has no rule for are admin-only."""
    user = ("viewer", "viewer-password-12345")
    request = urllib.request.Request(
        auth_server.base + "/api/2.0/mlflow/users/create",
        data=json.dumps({"username": user[0], "password": user[1]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    token = base64.b64encode(f"{ADMIN}:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
    assert _get(auth_server.base + "/monitor/", auth=user)[0] == 403
    status, _, _ = _get(
        auth_server.base + "/api/2.0/mlflow/experiments/search?max_results=5", auth=user
    )
    assert status == 200  # the same login reads what MLflow's own rules let it read

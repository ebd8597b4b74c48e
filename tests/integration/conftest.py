"""Fixtures for pipeline tests on real MLflow: SQLite store, `mlflow server` over HTTP, PostgreSQL.

Reusable by other rooms' tests:
- ``tracking_uri``: a fresh SQLite store in ``tmp_path`` (copied from a migrated template:
  creating a store runs MLflow's migrations, 8-25 s on a 2-core machine).
- ``churn``: the demo's trained model, reference and three windows as parquet files (session).
- ``registered``: the churn model registered on ``tracking_uri`` -> ``Registered`` (uri, spec,
  version). ``with_baseline``: the same with a baseline attached.
- ``start_server``: factory starting ``mlflow server`` on 127.0.0.1 on a free port for a backend
  store URI; every server is killed after the test.
- ``postgres_uri``: a fresh PostgreSQL database on 127.0.0.1:5432 for each test (created from
  database ``test`` as user postgres or root, dropped afterwards).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from mlflow_monitor.workflows import demo

WINDOW_ROWS = 3000
REPORT_ROWS = 500


@dataclass(frozen=True)
class ChurnData:
    """Files of the demo story: reference (scored, labelled) and the three scored windows."""

    folder: Path
    model: object
    reference: Path
    windows: dict[str, Path]
    expected: dict[str, str]
    starts: dict[str, str]
    ends: dict[str, str]


@dataclass(frozen=True)
class Registered:
    """A registered churn model version on a tracking URI, with its spec file."""

    uri: str
    spec: Path
    version: str
    data: ChurnData


@dataclass
class Server:
    """A running ``mlflow server``; ``stop()`` kills it (idempotent)."""

    uri: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def churn(tmp_path_factory: pytest.TempPathFactory) -> ChurnData:
    folder = tmp_path_factory.mktemp("churn-data")
    train = demo.make_churn(6000, seed=1, start=demo.START - timedelta(days=28), days=21)
    model = demo.train_churn_model(train)
    reference = folder / "reference.parquet"
    demo.score(model, demo.make_churn(4000, seed=2)).to_parquet(reference, index=False)
    windows, expected, starts, ends = {}, {}, {}, {}
    for plan, frame in demo.demo_windows(WINDOW_ROWS):
        path = folder / f"window_{plan.name}.parquet"
        demo.score(model, frame).to_parquet(path, index=False)
        windows[plan.name], expected[plan.name] = path, plan.expected
        starts[plan.name] = plan.start.strftime("%Y-%m-%dT%H:%M:%SZ")
        ends[plan.name] = (plan.start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ChurnData(folder, model, reference, windows, expected, starts, ends)


def write_spec(folder: Path, extra: list[str] | None = None) -> Path:
    """The demo spec (and its card.yaml) with small report samples and optional extra notebooks."""
    path = demo.write_demo_spec(folder / "monitor.yaml")
    text = path.read_text().replace("report_rows: 2000", f"report_rows: {REPORT_ROWS}")
    if extra:
        text = text.replace("notebooks:\n", "notebooks:\n  extra: [" + ", ".join(extra) + "]\n")
    path.write_text(text)
    return path


def register(uri: str, data: ChurnData, folder: Path) -> Registered:
    from mlflow_monitor.adapters.mlflow.models import register_sklearn_model

    local = folder / "mlartifacts" if uri.startswith("sqlite:") else None
    version = register_sklearn_model(
        data.model, demo.MODEL_NAME, tracking_uri=uri, artifact_root=local
    )
    return Registered(uri, write_spec(folder), version, data)


@pytest.fixture
def registered(tracking_uri: str, churn: ChurnData, tmp_path: Path) -> Registered:
    return register(tracking_uri, churn, tmp_path)


@pytest.fixture
def with_baseline(registered: Registered) -> Registered:
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    build_baseline_run(
        registered.spec, registered.version, registered.data.reference, tracking_uri=registered.uri
    )
    return registered


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(uri: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server at {uri} not healthy after {timeout}s")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[str], Server]]:
    servers: list[Server] = []

    def _start(backend_uri: str) -> Server:
        port = free_port()
        artifacts = tmp_path / "server-artifacts"  # shared: a revived server finds the files
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend_uri,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        log = (tmp_path / f"server-{port}.log").open("wb")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        server = Server(f"http://127.0.0.1:{port}", process)
        servers.append(server)
        _wait_healthy(server.uri, process, timeout=180)
        return server

    yield _start
    for server in servers:
        server.stop()


def _connect_admin() -> object:
    import psycopg2

    last: Exception | None = None
    for user in ("postgres", "root"):
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=user)
            conn.autocommit = True
            return conn
        except psycopg2.OperationalError as exc:
            last = exc
    raise RuntimeError(f"PostgreSQL at 127.0.0.1:5432 (db test) not reachable: {last}")


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    conn = _connect_admin()
    name = f"mlflow_monitor_{uuid.uuid4().hex[:12]}"
    user = conn.info.user  # type: ignore[attr-defined]
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{user}@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()  # type: ignore[attr-defined]

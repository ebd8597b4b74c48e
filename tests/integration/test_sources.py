"""One window read from a local file, an S3-compatible server and PostgreSQL: equal results.

Real parts: moto's S3 server on 127.0.0.1 (credentials and endpoint from the environment only),
PostgreSQL at 127.0.0.1:5432 (database ``test``, trust auth: no password anywhere), MLflow on
SQLite and papermill. The source is staged before the run, so the three runs' ``results.json``
must be equal; each run records where its rows came from, never a credential.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.integration.conftest import Registered
from tests.integration.flow import cli, run_args

MODEL = "churn-classifier"
WINDOW = "drifted"
SECRET = "moto-secret-never-logged"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[object, str]]:
    """A moto S3 server on 127.0.0.1 with one bucket; AWS_* set for this test only."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "moto-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"mm-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    try:
        yield client, bucket
    finally:
        server.stop()


@pytest.fixture
def pg_window(registered: Registered) -> Iterator[str]:
    """The window's rows as a PostgreSQL table (dropped afterwards); its name."""
    from sqlalchemy import create_engine, text

    table = f"mm_window_{uuid.uuid4().hex[:10]}"
    frame = pd.read_parquet(registered.data.windows[WINDOW])
    frame.insert(0, "row_number", range(len(frame)))
    engine = create_engine(PG_URL.replace("postgresql:", "postgresql+psycopg2:"))
    frame.to_sql(table, engine, index=False, chunksize=1000)
    try:
        yield table
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def _run(reg: Registered, current: str, *extra: str) -> dict[str, object]:
    times = ("--window-start", reg.data.starts[WINDOW], "--window-end", reg.data.ends[WINDOW])
    result = cli(*_args(reg, current, *times, *extra))
    assert result.exit_code == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    client = MlflowClient(reg.uri)
    run_id = client.get_model_version(MODEL, reg.version).tags["monitor.last_run_id"]
    local = client.download_artifacts(run_id, "results.json")
    body: dict[str, object] = json.loads(Path(local).read_text())
    body["_run_id"] = run_id
    return body


def _args(reg: Registered, current: str, *extra: str) -> list[str]:
    """``mlflow-monitor run`` arguments with ``--current`` as text (a URL stays a URL)."""
    args = run_args(reg, Path("placeholder"), *extra)
    args[args.index("--current") + 1] = current
    return args


def _comparable(body: dict[str, object]) -> str:
    clean = {k: v for k, v in body.items() if k != "_run_id"}
    return json.dumps(clean, sort_keys=True)


@pytest.mark.integration
def test_the_same_window_from_a_file_s3_and_postgresql_gives_equal_results(
    with_baseline: Registered, s3_bucket: tuple[object, str], pg_window: str, tmp_path: Path
) -> None:
    reg = with_baseline
    client = MlflowClient(reg.uri)
    local = reg.data.windows[WINDOW]
    s3, bucket = s3_bucket
    s3.put_object(Bucket=bucket, Key="windows/drifted.parquet", Body=local.read_bytes())  # type: ignore[attr-defined]

    from_file = _run(reg, str(local))
    from_s3 = _run(reg, f"s3://{bucket}/windows/drifted.parquet")
    query = (
        f"select * from {pg_window} where event_time >= :window_start "
        "and event_time < :window_end order by row_number"
    )
    from_pg = _run(reg, PG_URL, "--query", query)

    assert from_file["health"] == "warning"
    assert _comparable(from_s3) == _comparable(from_file)
    assert _comparable(from_pg) == _comparable(from_file)

    s3_run = client.get_run(str(from_s3["_run_id"]))
    assert s3_run.data.tags["monitor.source"] == f"s3://{bucket}/windows/drifted.parquet"
    pg_run = client.get_run(str(from_pg["_run_id"]))
    assert pg_run.data.tags["monitor.source"] == "postgresql://127.0.0.1:5432/test"  # no user
    source = json.loads(
        Path(client.download_artifacts(pg_run.info.run_id, "source.json")).read_text()
    )
    assert source["kind"] == "sql" and source["query"] == query and source["rows"] == 3000
    file_run = client.get_run(str(from_file["_run_id"]))
    assert file_run.data.tags["monitor.source"] == str(local.resolve())
    for run in (s3_run, pg_run):
        assert SECRET not in json.dumps({**run.data.tags, **run.data.params})


@pytest.mark.integration
def test_a_database_url_with_a_password_is_refused_and_nothing_is_created(
    with_baseline: Registered,
) -> None:
    reg = with_baseline
    client = MlflowClient(reg.uri)
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}").experiment_id
    before = len(client.search_runs([experiment]))
    url = "postgresql://postgres:hunter2@127.0.0.1:5432/test"
    result = cli(*_args(reg, url, "--query", "select 1"))
    assert result.exit_code == 2
    assert "hunter2" not in result.stdout + result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
    assert len(client.search_runs([experiment])) == before

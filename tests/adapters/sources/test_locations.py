"""Staging windows from object stores and databases into local files, against real servers.

S3: moto's server on 127.0.0.1 (a free port), reached by pyarrow through ``AWS_ENDPOINT_URL``.
PostgreSQL: 127.0.0.1:5432, database ``test``, user ``postgres`` (trust auth); one uniquely
named table per module, dropped after. SQLite: a file in ``tmp_path``.
"""

from __future__ import annotations

import io
import re
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlflow_monitor.adapters.sources import locations
from mlflow_monitor.adapters.sources.locations import (
    StagedSource,
    describe_location,
    is_remote,
    stage_source,
)
from mlflow_monitor.errors import DataError

SECRET = "s3cr3t-Never-Shown"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 3, 20, tzinfo=timezone.utc)  # the rows run across the 29 March DST change


def _one_line(exc: pytest.ExceptionInfo[DataError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    assert SECRET not in text
    return text


# -- locations and redaction ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("postgresql://user:s3cr3t@db.example:5432/sales?sslmode=require", "postgresql://db.example:5432/sales"),
        ("postgresql+psycopg2://user@db.example/sales", "postgresql+psycopg2://db.example/sales"),
        ("postgresql://user:pa/s3cr3t@db.example/sales", "postgresql://db.example/sales"),
        ("postgresql://user:pa?s3cr3t@db.example/sales", "postgresql://db.example/sales"),
        ("s3://AKIAEXAMPLE:s3cr3t@bucket/preds.parquet", "s3://bucket/preds.parquet"),
        ("s3://bucket/preds.parquet?secret_key=s3cr3t&access_key=AKIA", "s3://bucket/preds.parquet"),
        ("gs://bucket/x.csv?X-Goog-Signature=s3cr3t#frag", "gs://bucket/x.csv"),
        ("https://host/x.parquet?X-Amz-Security-Token=s3cr3t", "https://host/x.parquet"),
        ("https://s3cr3t@host/x.parquet", "https://host/x.parquet"),
        ("abfs://box@acct.dfs.core.windows.net/x.parquet", "abfs://box@acct.dfs.core.windows.net/x.parquet"),
        ("abfs://box:s3cr3t@acct.dfs.core.windows.net/x.parquet", "abfs://box@acct.dfs.core.windows.net/x.parquet"),
        ("s3://bucket/odd:name@v2.parquet", "s3://bucket/odd:name@v2.parquet"),
        ("sqlite:////tmp/db.sqlite", "sqlite:////tmp/db.sqlite"),
    ],
)  # fmt: skip
def test_describe_location_never_shows_a_secret(location: str, shown: str) -> None:
    assert describe_location(location) == shown
    assert "s3cr3t" not in describe_location(location)


def test_describe_location_of_local_paths_is_absolute(tmp_path: Path) -> None:
    assert describe_location(f"file://{tmp_path}/w.parquet") == str(tmp_path / "w.parquet")
    assert Path(describe_location("w.parquet")).is_absolute()


def test_is_remote() -> None:
    assert is_remote("s3://bucket/x.parquet")
    assert is_remote("postgresql://host/db")
    assert is_remote("sqlite:///x.db")
    assert not is_remote("data/x.parquet")
    assert not is_remote(Path("s3://bucket/x.parquet"))  # a Path is local by construction
    assert not is_remote("file:///data/x.parquet")
    assert not is_remote("C:\\data\\x.parquet")


def test_a_local_path_is_returned_as_it_is(tmp_path: Path) -> None:
    file = tmp_path / "w.parquet"
    work = tmp_path / "work"
    staged = stage_source(file, work=work)
    assert staged == StagedSource(file, str(file), "file", None, None, 0.0, False)
    assert stage_source(f"file://{file}", work=work).path == file
    assert not work.exists()
    with pytest.raises(DataError, match="--query applies only to a database URL"):
        stage_source(file, work=work, query="select 1")


def test_an_unknown_scheme_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        stage_source("ftp://host/x.csv", work=tmp_path, what="--reference")
    assert _one_line(exc).startswith("--reference ftp://host/x.csv: unsupported location")


@pytest.mark.parametrize(
    ("location", "hint"),
    [
        (f"s3://AKIAEXAMPLE:{SECRET}@bucket/x.parquet", "AWS_SECRET_ACCESS_KEY"),
        (f"s3://bucket/x.parquet?secret_key={SECRET}", "AWS_SECRET_ACCESS_KEY"),
        (f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test", "PGPASSWORD"),
        (f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1/test", "PGPASSWORD"),
        (f"postgresql://postgres@127.0.0.1/test?password={SECRET}", "PGPASSWORD"),
    ],
)
def test_a_url_with_credentials_is_refused_without_echoing_them(
    tmp_path: Path, location: str, hint: str
) -> None:
    with pytest.raises(DataError) as exc:
        stage_source(location, work=tmp_path, query="select 1")
    text = _one_line(exc)
    assert hint in text
    assert "environment" in text
    assert not any(tmp_path.iterdir())  # refused before anything is staged or connected


# -- S3 (moto server) -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@dataclass
class S3:
    client: Any
    bucket: str

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3:
    """A boto3 client and the AWS_* environment pointing at the moto server; a fresh bucket."""
    import boto3

    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = f"mm-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return S3(client, bucket)


def _frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "score": rng.random(rows),
            "segment": rng.choice(["a", "b", "c"], rows),
            "ts": pd.date_range("2026-01-01", periods=rows, freq="min", tz="UTC"),
        }
    )


def _put_parquet(s3: S3, key: str, frame: pd.DataFrame) -> None:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    s3.put(key, sink.getvalue())


@pytest.mark.integration
def test_a_parquet_object_stages_to_an_equal_local_file(s3: S3, tmp_path: Path) -> None:
    frame = _frame()
    _put_parquet(s3, "windows/preds.parquet", frame)
    url = f"s3://{s3.bucket}/windows/preds.parquet"
    staged = stage_source(url, work=tmp_path / "work")
    assert staged.staged and staged.kind == "object_store" and staged.location == url
    assert staged.path == tmp_path / "work" / "current" / "preds.parquet"
    assert staged.seconds > 0 and staged.rows is None and staged.query is None
    pd.testing.assert_frame_equal(pd.read_parquet(staged.path), frame)
    assert [p.name for p in staged.path.parent.iterdir()] == ["preds.parquet"]


@pytest.mark.integration
def test_a_csv_object_stages_byte_for_byte(s3: S3, tmp_path: Path) -> None:
    frame = _frame(seed=1)
    body = frame.to_csv(index=False).encode()
    s3.put("ref.csv", body)
    staged = stage_source(f"s3://{s3.bucket}/ref.csv", work=tmp_path, what="--reference")
    assert staged.path == tmp_path / "reference" / "ref.csv"
    assert staged.path.read_bytes() == body
    pd.testing.assert_frame_equal(pd.read_csv(staged.path), pd.read_csv(io.BytesIO(body)))


@pytest.mark.integration
def test_a_prefix_of_parquet_parts_stages_as_one_file(s3: S3, tmp_path: Path) -> None:
    parts = [_frame(200, seed=2), _frame(150, seed=3)]
    for index, part in enumerate(parts):
        _put_parquet(s3, f"log/date=2026-01-0{index + 1}/part-{index}.parquet", part)
    s3.put("log/_SUCCESS", b"")  # not a part: skipped
    staged = stage_source(f"s3://{s3.bucket}/log", work=tmp_path / "work")
    assert staged.path.name == "log.parquet"
    merged = pd.read_parquet(staged.path)
    pd.testing.assert_frame_equal(merged, pd.concat(parts, ignore_index=True))


@pytest.mark.integration
def test_the_endpoint_may_come_from_aws_endpoint_url_s3(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = s3.client.meta.endpoint_url
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3.put("w.csv", b"a,b\n1,2\n")
    staged = stage_source(f"s3://{s3.bucket}/w.csv", work=tmp_path)
    assert staged.path.read_bytes() == b"a,b\n1,2\n"


@pytest.mark.integration
def test_missing_objects_and_buckets_are_one_line(s3: S3, tmp_path: Path) -> None:
    missing = [
        f"s3://{s3.bucket}/nope.parquet",
        f"s3://{s3.bucket}/nope/",
        f"s3://mm-no-such-bucket-{uuid.uuid4().hex[:8]}/x.parquet",
    ]
    for url in missing:
        with pytest.raises(DataError) as exc:
            stage_source(url, work=tmp_path, what="--current")
        assert _one_line(exc) == f"--current {url}: not found"
    s3.put("notes/readme.txt", b"x")
    with pytest.raises(DataError) as exc:
        stage_source(f"s3://{s3.bucket}/notes", work=tmp_path)
    assert _one_line(exc).endswith(": holds no .parquet files")
    s3.put("w.json", b"{}")
    with pytest.raises(DataError) as exc:
        stage_source(f"s3://{s3.bucket}/w.json", work=tmp_path)
    assert "unsupported format '.json'" in _one_line(exc)
    with pytest.raises(DataError) as exc:
        stage_source(f"s3://{s3.bucket}/w.csv", work=tmp_path, query="select 1")
    assert "--query applies only to a database URL" in _one_line(exc)


# -- SQL: PostgreSQL and SQLite -------------------------------------------------------------


def _rows(n: int = 2_500) -> pd.DataFrame:
    """ints, floats, text, a timestamptz; NULLs, some only after the first chunk of 500."""
    rng = np.random.default_rng(7)
    ids = np.arange(n)
    frame = pd.DataFrame(
        {
            "id": ids,
            "ts": [T0 + timedelta(minutes=10 * int(i)) for i in ids],
            "score": rng.random(n),
            "clicks": rng.integers(0, 50, n).astype("float64"),
            "segment": rng.choice(["north", "south"], n).astype(object),
            "late": np.where(ids < 1_000, np.nan, rng.random(n)),  # NULL in the first chunks
            "late_text": np.where(ids < 1_000, None, "x").astype(object),
        }
    )
    frame.loc[frame.index % 97 == 5, "score"] = np.nan
    frame.loc[frame.index >= 1_800, "clicks"] = np.where(ids[1_800:] % 3 == 0, np.nan, 1.0)
    frame.loc[frame.index % 50 == 3, "segment"] = None
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


@pytest.fixture(scope="module")
def pg_table() -> Iterator[tuple[str, pd.DataFrame]]:
    import psycopg2
    from psycopg2.extras import execute_values

    data = _rows()
    name = f"mm_locations_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user="postgres")
    conn.autocommit = True
    values = [
        tuple(None if pd.isna(v) else (v.to_pydatetime() if isinstance(v, pd.Timestamp) else v)
              for v in row)
        for row in data.itertuples(index=False, name=None)
    ]  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {name} (id integer, ts timestamptz, score double precision, "
            "clicks integer, segment text, late double precision, late_text text)"
        )
        execute_values(cur, f"INSERT INTO {name} VALUES %s", values, page_size=1_000)
    try:
        yield name, data
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {name}")
        conn.close()


def _same(staged: StagedSource, expected: pd.DataFrame) -> None:
    got = pd.read_parquet(staged.path)
    assert str(got["ts"].dtype).endswith(", UTC]")
    got["ts"] = got["ts"].dt.as_unit("ns")
    want = expected.reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


@pytest.mark.integration
def test_a_query_with_window_parameters_stages_its_rows(
    pg_table: tuple[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locations, "SQL_CHUNK_ROWS", 500)
    name, data = pg_table
    start, end = T0 + timedelta(days=2), T0 + timedelta(days=16)  # across the DST change
    sql = (
        f"SELECT * FROM {name} WHERE ts >= :window_start AND ts < :window_end "
        "AND id::text <> 'x' ORDER BY id"
    )
    # the session's zone is Berlin: offsets change across the rows, UTC comes out
    url = f"{PG_URL}?options=-c%20timezone%3DEurope/Berlin"
    params = {"window_start": start, "window_end": end, "model": "unused"}
    staged = stage_source(url, work=tmp_path, query=sql, params=params)
    expected = data[(data["ts"] >= start) & (data["ts"] < end)]
    assert staged.kind == "sql" and staged.staged and staged.query == sql
    assert staged.location == "postgresql://127.0.0.1:5432/test"
    assert staged.rows == len(expected) == 2_016
    assert pq.ParquetFile(staged.path).metadata.num_row_groups == 5  # one per chunk
    _same(staged, expected)
    types = pq.read_schema(staged.path)  # one schema although the chunks disagreed:
    assert str(types.field("clicks").type) == "double"  # int64 first, NULLs later
    assert str(types.field("late").type) == "double"  # all-null in the first chunk
    assert str(types.field("late_text").type) == "string"
    assert str(types.field("ts").type) == "timestamp[ns, tz=UTC]"


@pytest.mark.integration
def test_a_table_name_and_a_sql_file(
    pg_table: tuple[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locations, "SQL_CHUNK_ROWS", 1_000)
    name, data = pg_table
    staged = stage_source(PG_URL, work=tmp_path / "a", query=name, what="--reference")
    assert staged.rows == 2_500 and staged.path.name == "reference.parquet"
    assert staged.query == f"SELECT * FROM {name}"
    _same(staged, data)  # a fresh heap table returns rows in insertion order
    file = tmp_path / "window.sql"
    file.write_text(f"SELECT * FROM {name}\nWHERE ts < :window_end ORDER BY id\n")
    end = T0 + timedelta(days=1)
    staged = stage_source(PG_URL, work=tmp_path / "b", query=f"@{file}", params={"window_end": end})
    assert staged.query == file.read_text().strip()
    _same(staged, data[data["ts"] < end])


@pytest.mark.integration
def test_database_errors_are_one_line(pg_table: tuple[str, pd.DataFrame], tmp_path: Path) -> None:
    name, _ = pg_table
    cases = {
        "SELECT * FROM mm_no_table": 'query failed: relation "mm_no_table" does not exist',
        f"SELECT * FROM {name} WHERE false": "the query returned no rows",
        f"SELECT * FROM {name} WHERE ts < :window_end": "query failed: A value is required",
        "@" + str(tmp_path / "missing.sql"): "cannot read (No such file or directory)",
    }  # fmt: skip
    for query, message in cases.items():
        with pytest.raises(DataError) as exc:
            stage_source(PG_URL, work=tmp_path, query=query)
        text = _one_line(exc)
        assert text.startswith("--current "), text
        assert message in text, text
    with pytest.raises(DataError) as exc:
        stage_source(PG_URL, work=tmp_path)
    assert _one_line(exc) == (
        "--current postgresql://127.0.0.1:5432/test: a database needs --query "
        "(SQL text, @file.sql or a table name)"
    )
    assert [p.name for p in (tmp_path / "current").iterdir()] == []  # no parts left behind
    with pytest.raises(DataError) as exc:
        stage_source(
            f"postgresql://postgres@127.0.0.1:{_free_port()}/test", work=tmp_path, query=name
        )
    assert re.match(
        r"--current postgresql://127\.0\.0\.1:\d+/test: cannot connect \(.*refused", _one_line(exc)
    )


def test_a_sqlite_file_stages_by_table_name(tmp_path: Path) -> None:
    db = tmp_path / "preds.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE preds (id INTEGER, score REAL, segment TEXT)")
        conn.executemany(
            "INSERT INTO preds VALUES (?, ?, ?)", [(i, i / 10, "ab"[i % 2]) for i in range(30)]
        )
    conn.close()
    staged = stage_source(f"sqlite:///{db}", work=tmp_path / "work", query="preds")
    assert staged.rows == 30 and staged.location == f"sqlite:///{db}"
    got = pd.read_parquet(staged.path)
    assert got["score"].tolist() == [i / 10 for i in range(30)]
    assert got["segment"].tolist()[:3] == ["a", "b", "a"]

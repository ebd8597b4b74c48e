"""The PostgreSQL prediction log on a real server (127.0.0.1:5432, a fresh database per module)."""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.adapters.prediction_log import META, open_log, postgres_store
from mlflow_monitor.adapters.prediction_log.postgres_store import PostgresLog
from mlflow_monitor.errors import DataError, MonitorError

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 6, tzinfo=timezone.utc)


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


@contextlib.contextmanager
def _database() -> Iterator[str]:
    """A fresh database (as ``postgres_uri`` in tests/integration/conftest.py), then dropped."""
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


@pytest.fixture(scope="module")
def pg_uri() -> Iterator[str]:
    with _database() as uri:
        yield uri


@pytest.fixture
def log(pg_uri: str) -> Iterator[PostgresLog]:
    store = PostgresLog(pg_uri)
    yield store
    store.close()


def _model() -> str:
    return f"model-{uuid.uuid4().hex[:8]}"  # tests share the module's database


def _frame(
    model: str, times: list[datetime], version: object = "1", **columns: object
) -> pd.DataFrame:
    meta = {
        "mm_request_id": [uuid.uuid4().hex for _ in times],
        "mm_model": model,
        "mm_version": version,
        "mm_time": pd.to_datetime(times, utc=True),
    }
    return pd.DataFrame({**meta, **columns})


def _scalar(uri: str, sql: str, *params: object) -> object:
    import psycopg2

    conn = psycopg2.connect(uri.replace("+psycopg2", ""))
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def test_roundtrip_keeps_types_and_nan_becomes_null(log: PostgresLog, pg_uri: str) -> None:
    model = _model()
    times = [T0 + timedelta(minutes=i) for i in range(3)]
    frame = _frame(
        model,
        times,
        version=7,
        customer_id=np.array([1, 2, 2**40], dtype=np.int64),
        score=[0.1, np.nan, 1 / 3],
        region=["north", None, 'tab\there "quoted" \\ é %s'],
        churned=[True, False, True],
        event_time=[pd.Timestamp("2025-01-05 10:00:00.123456", tz="UTC"), pd.NaT, T0],
        local_time=pd.to_datetime(["2025-01-05 10:00", "2025-01-05 11:00", "2025-01-05 12:00"]),
        mixed=[np.int64(5), np.float32(0.5), None],
        grade=pd.Categorical(["a", None, "b"]),
        nullable=pd.array([1, None, 3], dtype="Int64"),
    )
    assert log.append(frame) == 3

    back = log.read(model=model)
    assert list(back.columns[:4]) == list(META)
    assert set(back.columns) == set(frame.columns)
    assert str(back["mm_time"].dtype) == "datetime64[us, UTC]"
    assert back["mm_time"].tolist() == frame["mm_time"].tolist()
    assert back["mm_version"].tolist() == ["7", "7", "7"]
    assert back["mm_request_id"].tolist() == frame["mm_request_id"].tolist()
    assert back["customer_id"].dtype == np.int64
    assert back["customer_id"].tolist() == [1, 2, 2**40]
    assert back["score"].dtype == np.float64
    assert back["score"][0] == 0.1 and np.isnan(back["score"][1]) and back["score"][2] == 1 / 3
    assert back["region"].tolist() == ["north", None, 'tab\there "quoted" \\ é %s']
    assert back["churned"].dtype == bool and back["churned"].tolist() == [True, False, True]
    assert str(back["event_time"].dtype) == "datetime64[us, UTC]"
    pd.testing.assert_series_equal(
        back["event_time"], frame["event_time"].astype("datetime64[us, UTC]")
    )
    assert str(back["local_time"].dtype) == "datetime64[us]"
    assert back["local_time"].tolist() == frame["local_time"].tolist()
    assert back["mixed"][0] == 5 and back["mixed"][1] == 0.5 and np.isnan(back["mixed"][2])
    assert back["grade"].tolist() == ["a", None, "b"]
    assert back["nullable"][0] == 1 and np.isnan(back["nullable"][1])

    # stored as JSON null (not NaN text), times as ISO text
    nulls = _scalar(
        pg_uri,
        "SELECT count(*) FROM mlflow_monitor.predictions WHERE model = %s "
        "AND jsonb_typeof(row->'score') = 'null' AND jsonb_typeof(row->'event_time') = 'null'",
        model,
    )
    assert nulls == 1
    text = _scalar(
        pg_uri,
        "SELECT row->>'event_time' FROM mlflow_monitor.predictions WHERE model = %s "
        "ORDER BY time LIMIT 1",
        model,
    )
    assert text == "2025-01-05T10:00:00.123456+00:00"


def test_missing_meta_column_is_a_data_error_and_nothing_is_stored(log: PostgresLog) -> None:
    model = _model()
    frame = _frame(model, [T0]).drop(columns=["mm_version"])
    with pytest.raises(DataError, match="'mm_version'"):
        log.append(frame)
    with pytest.raises(DataError, match="'mm_time'"):
        log.append(_frame(model, [T0]).assign(mm_time=[None]))
    assert log.stats(model=model).predictions == 0


def test_append_is_atomic_across_copy_chunks(
    log: PostgresLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_store, "_CHUNK", 10)  # 3 COPY statements in one transaction
    model = _model()
    text = ["ok"] * 29 + ["nul \x00 is refused by jsonb"]
    frame = _frame(model, [T0 + timedelta(seconds=i) for i in range(30)], text=text)
    with pytest.raises(MonitorError) as caught:
        log.append(frame)
    assert "127.0.0.1:5432/" in str(caught.value)
    assert log.stats(model=model).predictions == 0
    assert log.append(frame.iloc[:29]) == 29  # the connection recovers
    assert log.stats(model=model).predictions == 29


def test_version_and_half_open_time_filters_are_exact(log: PostgresLog) -> None:
    model = _model()
    times = [T0 + timedelta(hours=i) for i in range(6)]
    frame = _frame(model, times, version=["1", "2"] * 3, n=list(range(6)))
    log.append(frame)
    log.append(_frame(_model(), times, n=list(range(6))))  # another model: never read

    assert log.read(model=model)["n"].tolist() == [0, 1, 2, 3, 4, 5]
    assert log.read(model=model, version="2")["n"].tolist() == [1, 3, 5]
    window = log.read(model=model, start=times[1], end=times[4])
    assert window["n"].tolist() == [1, 2, 3]  # start included, end excluded
    naive = log.read(model=model, start=times[1].replace(tzinfo=None), end=times[4])
    assert naive["n"].tolist() == [1, 2, 3]  # a naive bound is UTC
    assert log.read(model=model, version="1", start=times[2], end=times[4])["n"].tolist() == [2]
    just_after = times[4] + timedelta(microseconds=1)
    assert log.read(model=model, start=times[4], end=just_after)["n"].tolist() == [4]
    empty = log.read(model=model, start=times[5] + timedelta(microseconds=1))
    assert empty.empty and list(empty.columns) == list(META)
    assert str(empty["mm_time"].dtype) == "datetime64[us, UTC]"


def test_columns_select_and_a_key_missing_in_some_rows_is_null(log: PostgresLog) -> None:
    model = _model()
    log.append(_frame(model, [T0], a=[1], b=["x"]))
    log.append(_frame(model, [T0 + timedelta(seconds=1)], a=[2], c=[0.5]))
    full = log.read(model=model)
    assert full["b"].tolist()[0] == "x" and pd.isna(full["b"].tolist()[1])
    assert np.isnan(full["c"][0]) and full["c"][1] == 0.5
    some = log.read(model=model, columns=["c", "a", "mm_time", "absent"])
    assert list(some.columns) == [*META, "c", "a", "absent"]
    assert some["a"].tolist() == [1, 2]
    assert some["absent"].isna().all()


def _writer(uri: str, writer: int, barrier: object) -> None:
    store = PostgresLog(uri)
    barrier.wait()  # type: ignore[attr-defined]
    for call in range(50):
        times = [T0 + timedelta(seconds=writer * 1000 + call * 20 + i) for i in range(20)]
        frame = _frame("shared", times, version=str(writer), writer=[writer] * 20)
        frame["mm_request_id"] = [f"{writer}-{call}-{i}" for i in range(20)]
        assert store.append(frame) == 20


def test_concurrent_writer_processes_lose_nothing() -> None:
    """4 spawned processes x 50 appends of 20 rows, into a fresh database (the DDL races too)."""
    with _database() as uri:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(4)
        workers = [context.Process(target=_writer, args=(uri, w, barrier)) for w in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
        store = PostgresLog(uri)
        rows = store.read(model="shared")
        store.close()
    assert len(rows) == 4000
    assert rows["mm_request_id"].is_unique
    expected = {f"{w}-{c}-{i}" for w in range(4) for c in range(50) for i in range(20)}
    assert set(rows["mm_request_id"]) == expected
    assert rows.groupby("mm_version").size().to_dict() == {
        "0": 1000,
        "1": 1000,
        "2": 1000,
        "3": 1000,
    }
    assert (rows["writer"].astype(str) == rows["mm_version"]).all()


def test_labels_roundtrip_in_the_order_added(log: PostgresLog) -> None:
    model = _model()
    first = pd.DataFrame(
        {"id": [3, 1, 2], "label": [1, 0, 1], "event_time": [T0, None, T0 + timedelta(days=1)]}
    )
    assert log.add_labels(model=model, labels=first) == 3
    assert log.add_labels(model=model, labels=pd.DataFrame({"id": ["9"], "label": [0]})) == 1
    assert log.add_labels(model=_model(), labels=first) == 3  # another model's labels
    with pytest.raises(DataError, match="'label'"):
        log.add_labels(model=model, labels=pd.DataFrame({"id": ["1"]}))

    labels = log.labels(model=model)
    assert list(labels.columns) == ["id", "label", "event_time", "added_at"]
    assert labels["id"].tolist() == ["3", "1", "2", "9"]
    assert labels["label"].tolist() == [1, 0, 1, 0]
    assert labels["label"].dtype == np.int64
    assert labels["event_time"][0] == pd.Timestamp(T0)
    assert pd.isna(labels["event_time"][1]) and pd.isna(labels["event_time"][3])
    assert str(labels["added_at"].dtype) == "datetime64[us, UTC]"
    assert labels["added_at"].is_monotonic_increasing
    assert log.stats(model=model).labels == 4
    assert log.labels(model=_model()).empty


def test_retention_drops_exactly_the_older_rows(log: PostgresLog) -> None:
    older, newer = _model(), _model()
    cut = datetime(2031, 1, 1, tzinfo=timezone.utc)  # later than every other test's rows
    micro = timedelta(microseconds=1)
    log.append(_frame(older, [cut - timedelta(days=3), cut - micro], n=[0, 1]))
    log.append(_frame(newer, [cut - micro, cut, cut + micro], n=[2, 3, 4]))
    log.add_labels(model=older, labels=pd.DataFrame({"id": ["a"], "label": [1]}))
    before = {m: log.stats(model=m).predictions for m in (older, newer)}
    assert before == {older: 2, newer: 3}

    dropped = log.apply_retention(before=cut)
    assert dropped >= 3  # the other tests' rows (all in 2025) go too
    assert log.stats(model=older).predictions == 0
    assert log.read(model=newer)["n"].tolist() == [3, 4]
    assert log.stats(model=older).labels == 1  # labels are kept
    assert log.apply_retention(before=cut) == 0
    assert log.compact(model=newer) == 0
    assert log.stats(model=newer).files == 0


def test_open_log_and_a_wrong_port_give_one_line_without_the_password(pg_uri: str) -> None:
    assert isinstance(open_log(pg_uri), PostgresLog)
    assert open_log(pg_uri).uri == pg_uri
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    uri = f"postgresql://someone:s3cr%2Fet@127.0.0.1:{port}/nowhere"
    store = open_log(uri)
    assert "s3cr" not in repr(store)
    with pytest.raises(MonitorError) as caught:
        store.read(model="m")
    message = str(caught.value)
    assert "\n" not in message
    assert f"127.0.0.1:{port}/nowhere" in message
    assert "s3cr" not in message
    with pytest.raises(MonitorError, match="not a PostgreSQL URI"):
        PostgresLog("mysql://127.0.0.1/db")

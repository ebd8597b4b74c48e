"""parquet_store.ParquetLog: atomic appends from several processes, exact filters, schema
evolution, compaction that readers never see half-done, retention, labels."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from mlflow_monitor.adapters.prediction_log import META, LogStats, open_log, parquet_store
from mlflow_monitor.adapters.prediction_log.parquet_store import ParquetLog
from mlflow_monitor.errors import DataError

MODEL = "churn"
T0 = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)


def rows(
    n: int,
    *,
    start: datetime = T0,
    step: timedelta = timedelta(minutes=1),
    prefix: str = "r",
    model: str = MODEL,
    version: str = "1",
    **extra: list[object],
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "mm_request_id": [f"{prefix}{i}" for i in range(n)],
            "mm_model": model,
            "mm_version": version,
            "mm_time": [start + i * step for i in range(n)],
            "tenure": [float(i) for i in range(n)],
            "prediction": [i % 2 for i in range(n)],
        }
    )
    for name, values in extra.items():
        frame[name] = values
    return frame


def parquet_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))


def test_roundtrip_converts_times_to_utc_and_keeps_columns(tmp_path: Path) -> None:
    uri = (tmp_path / "log").as_uri()
    log = open_log(uri)
    assert isinstance(log, ParquetLog) and log.uri == uri
    paris = pd.DataFrame(
        {
            "mm_request_id": ["a", "b"],
            "mm_model": MODEL,
            "mm_version": [3, 3],  # stored as text
            "mm_time": pd.to_datetime(["2024-03-10 13:00", "2024-03-10 14:30"]).tz_localize(
                "Europe/Paris"
            ),
            "segment": pd.Categorical(["x", "y"]),
            "score": [0.25, 0.75],
        }
    )
    naive = paris.assign(
        mm_request_id=["c", "d"], mm_time=pd.to_datetime(["2024-03-10 12:15", "2024-03-10 13:45"])
    )
    assert log.append(paris) == 2
    assert log.append(naive) == 2  # naive times are UTC
    out = ParquetLog(str(tmp_path / "log")).read(model=MODEL)
    assert list(out.columns) == [*META, "segment", "score"]
    assert str(out["mm_time"].dt.tz) == "UTC"
    assert list(out["mm_request_id"]) == ["a", "c", "b", "d"]  # in time order
    assert list(out["mm_time"]) == [
        pd.Timestamp("2024-03-10 12:00", tz="UTC"),
        pd.Timestamp("2024-03-10 12:15", tz="UTC"),
        pd.Timestamp("2024-03-10 13:30", tz="UTC"),
        pd.Timestamp("2024-03-10 13:45", tz="UTC"),
    ]
    assert list(out["mm_version"]) == ["3"] * 4
    assert list(out["segment"]) == ["x", "x", "y", "y"]
    assert list(out["score"]) == [0.25, 0.25, 0.75, 0.75]


def test_time_and_version_filters_are_exact_at_the_bounds(tmp_path: Path) -> None:
    log = ParquetLog(str(tmp_path))
    us = timedelta(microseconds=1)
    end = T0 + timedelta(days=2)  # the window spans three date partitions
    times = [T0 - us, T0, T0 + us, T0 + timedelta(days=1), end - us, end, end + us]
    frame = pd.DataFrame(
        {
            "mm_request_id": [f"r{i}" for i in range(len(times))],
            "mm_model": MODEL,
            "mm_version": ["1", "2", "1", "2", "1", "2", "1"],
            "mm_time": times,
        }
    )
    assert log.append(frame) == len(times)
    dates = sorted(p.name for p in (tmp_path / "predictions" / "model=churn").iterdir())
    assert dates == ["date=2024-03-10", "date=2024-03-11", "date=2024-03-12"]  # one batch, split
    window = log.read(model=MODEL, start=T0, end=end)
    assert list(window["mm_request_id"]) == ["r1", "r2", "r3", "r4"]
    assert list(log.read(model=MODEL, version="1", start=T0, end=end)["mm_request_id"]) == [
        "r2",
        "r4",
    ]
    # naive bounds are UTC; open-ended windows
    naive_end = end.replace(tzinfo=None)
    assert list(log.read(model=MODEL, end=naive_end)["mm_request_id"]) == [
        f"r{i}" for i in range(5)
    ]
    assert list(log.read(model=MODEL, start=end)["mm_request_id"]) == ["r5", "r6"]
    assert log.read(model=MODEL, version="9").empty
    assert log.read(model="other").columns.tolist() == list(META)


def test_a_column_added_later_reads_as_null_for_older_rows(tmp_path: Path) -> None:
    log = ParquetLog(str(tmp_path))
    log.append(rows(3, prefix="old"))
    log.append(rows(2, prefix="new", start=T0 + timedelta(hours=1), churn_score=[0.1, 0.9]))
    for frame in (log.read(model=MODEL), log.read(model=MODEL, columns=["churn_score"])):
        assert frame["churn_score"].isna().tolist() == [True, True, True, False, False]
        assert frame["churn_score"].iloc[3:].tolist() == [0.1, 0.9]
    assert log.read(model=MODEL, columns=["churn_score"]).columns.tolist() == [*META, "churn_score"]
    log.compact()  # the merged file carries the union of the columns
    assert log.read(model=MODEL)["churn_score"].isna().sum() == 3
    with pytest.raises(DataError, match="'nope'"):
        log.read(model=MODEL, columns=["nope"])


def _write_many(root: str, worker: int) -> None:
    log = ParquetLog(root)
    for batch in range(50):
        frame = rows(20, prefix=f"w{worker}-b{batch}-", step=timedelta(seconds=1))
        assert log.append(frame) == 20


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    out = ParquetLog(str(tmp_path)).read(model=MODEL)
    assert len(out) == 4000
    assert out["mm_request_id"].is_unique
    assert len(parquet_files(tmp_path)) == 200
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def _read_until(root: Path, stop: threading.Event, seen: list[tuple[int, bool]]) -> None:
    while not stop.is_set():
        frame = ParquetLog(str(root)).read(model=MODEL)
        seen.append((len(frame), frame["mm_request_id"].is_unique))


class _SlowUnlink:
    """``os`` for the store, with slow deletions: a swap's window is wide enough to read in."""

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    @staticmethod
    def unlink(path: str | Path) -> None:
        time.sleep(0.002)
        os.unlink(path)


def test_readers_never_see_a_compaction_half_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_store, "os", _SlowUnlink())
    log = ParquetLog(str(tmp_path))
    seen: list[tuple[int, bool]] = []
    total = 0
    for round_ in range(3):
        for i in range(120):  # two date partitions, tiny files
            day = T0 + timedelta(days=i % 2)
            log.append(rows(5, start=day, prefix=f"{round_}-{i}-"))
        total += 600
        stop = threading.Event()
        thread = threading.Thread(target=_read_until, args=(tmp_path, stop, seen))
        before = len(seen)
        thread.start()
        merged = log.compact()
        stop.set()
        thread.join()
        assert merged > 0 and len(seen) > before
        assert all(n == total and unique for n, unique in seen[before:]), seen[before:]
    assert len(parquet_files(tmp_path)) == 2


def test_compaction_reduces_files_and_keeps_rows(tmp_path: Path) -> None:
    log = ParquetLog(str(tmp_path))
    for i in range(10):
        log.append(rows(4, start=T0 + timedelta(hours=6 * i), prefix=f"b{i}-"))  # 3 days
    before = log.read(model=MODEL)
    files = len(parquet_files(tmp_path))
    assert log.stats(model=MODEL) == LogStats(predictions=40, files=files, labels=0)
    assert log.compact(model="someone-else") == 0
    assert log.compact(model=MODEL) == files - 3
    assert len(parquet_files(tmp_path)) == 3
    assert log.stats(model=MODEL) == LogStats(predictions=40, files=3, labels=0)
    pd.testing.assert_frame_equal(log.read(model=MODEL), before)
    assert log.compact() == 0


def test_inputs_left_by_a_killed_compaction_are_ignored_then_deleted(tmp_path: Path) -> None:
    log = ParquetLog(str(tmp_path))
    for i in range(5):
        log.append(rows(3, prefix=f"b{i}-", start=T0 + timedelta(minutes=10 * i)))
    inputs = parquet_files(tmp_path)
    saved = tmp_path / "saved"
    saved.mkdir()
    for p in inputs:
        shutil.copy2(p, saved / p.name)
    assert log.compact() == 4
    for p in inputs:  # as if killed between renaming the merged file in and deleting its inputs
        shutil.copy2(saved / p.name, p)
    shutil.rmtree(saved)
    assert len(parquet_files(tmp_path)) == 6
    out = log.read(model=MODEL)
    assert len(out) == 15 and out["mm_request_id"].is_unique
    assert log.stats(model=MODEL).files == 1
    assert log.compact() == 0
    assert len(parquet_files(tmp_path)) == 1
    assert len(log.read(model=MODEL)) == 15


def test_retention_drops_exactly_the_rows_before_the_cut(tmp_path: Path) -> None:
    log = ParquetLog(str(tmp_path))
    # 72 hourly rows over three days, in three appends (several files in the boundary day)
    frame = rows(72, start=datetime(2024, 3, 10, tzinfo=timezone.utc), step=timedelta(hours=1))
    for part in (frame.iloc[:30], frame.iloc[30:40], frame.iloc[40:]):
        log.append(part)
    cut = datetime(2024, 3, 11, 9, tzinfo=timezone.utc)  # a row is made exactly at the cut
    assert log.apply_retention(before=cut) == 24 + 9
    out = log.read(model=MODEL)
    assert len(out) == 72 - 33
    assert out["mm_time"].min() == pd.Timestamp(cut)
    assert out["mm_request_id"].tolist() == [f"r{i}" for i in range(33, 72)]
    dates = sorted(p.name for p in (tmp_path / "predictions" / "model=churn").iterdir())
    assert dates == ["date=2024-03-11", "date=2024-03-12"]
    assert log.apply_retention(before=cut) == 0
    assert log.apply_retention(before=datetime(2030, 1, 1)) == 39
    assert log.read(model=MODEL).empty


def test_labels_roundtrip_in_order_added(tmp_path: Path) -> None:
    log = ParquetLog(str(tmp_path))
    assert log.labels(model=MODEL).columns.tolist() == ["id", "label", "event_time", "added_at"]
    assert log.add_labels(model=MODEL, labels=pd.DataFrame({"id": [7, 8], "label": [1, 0]})) == 2
    late = pd.DataFrame(
        {
            "id": ["9", "7"],
            "label": [1, 0],
            "event_time": [pd.Timestamp("2024-03-10 12:00", tz="Europe/Paris"), None],
        }
    )
    assert log.add_labels(model=MODEL, labels=late) == 2
    out = log.labels(model=MODEL)
    assert out.columns.tolist() == ["id", "label", "event_time", "added_at"]
    assert out["id"].tolist() == ["7", "8", "9", "7"]
    assert out["label"].tolist() == [1, 0, 1, 0]
    assert out["event_time"].isna().tolist() == [True, True, False, True]
    assert out["event_time"].iloc[2] == pd.Timestamp("2024-03-10 11:00", tz="UTC")
    assert out["added_at"].is_monotonic_increasing and str(out["added_at"].dt.tz) == "UTC"
    assert log.stats(model=MODEL).labels == 4
    assert log.labels(model="other").empty


def test_missing_columns_are_named(tmp_path: Path) -> None:
    log = ParquetLog(str(tmp_path))
    with pytest.raises(DataError, match="'label'"):
        log.add_labels(model=MODEL, labels=pd.DataFrame({"id": [1]}))
    with pytest.raises(DataError, match="'id'"):
        log.add_labels(model=MODEL, labels=pd.DataFrame({"label": [1]}))
    with pytest.raises(DataError, match="'mm_time'"):
        log.append(rows(2).drop(columns="mm_time"))
    with pytest.raises(DataError, match="'mm_model'"):
        log.append(rows(2).drop(columns="mm_model"))
    assert log.append(rows(0)) == 0
    assert not tmp_path.joinpath("predictions").exists()
    assert not parquet_files(tmp_path)


def test_model_names_with_slashes_and_spaces_stay_apart(tmp_path: Path) -> None:
    log = ParquetLog(str(tmp_path))
    names = ["team/churn v2", "team/churn", "team", "../x"]
    for i, name in enumerate(names):
        log.append(rows(i + 1, model=name, prefix=f"{i}-"))
        log.add_labels(model=name, labels=pd.DataFrame({"id": [i], "label": [i]}))
    folders = sorted(p.name for p in (tmp_path / "predictions").iterdir())
    assert folders == [
        "model=..%2Fx",
        "model=team",
        "model=team%2Fchurn",
        "model=team%2Fchurn%20v2",
    ]
    for i, name in enumerate(names):
        out = log.read(model=name)
        assert len(out) == i + 1 and set(out["mm_model"]) == {name}
        assert log.labels(model=name)["id"].tolist() == [str(i)]
    assert log.compact() == 0
    assert not (tmp_path.parent / "x").exists()

"""Recorder: rows in = rows out, personal data kept out, a down or slow store costs rows only."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.adapters.capture.recorder import Recorder, hash_value
from mlflow_monitor.adapters.prediction_log import META, PredictionLog, open_log

LOGGER = "mlflow_monitor.adapters.capture.recorder"


@pytest.fixture
def log(tmp_path: Path) -> PredictionLog:
    return open_log(str(tmp_path / "log"))


@pytest.fixture
def recorders() -> Iterator[list[Recorder]]:
    """Recorders made by a test, closed after it (their threads and atexit hooks gone)."""
    made: list[Recorder] = []
    yield made
    for recorder in made:
        recorder.close(timeout=1.0)


def frame(rows: int, start: int = 0) -> pd.DataFrame:
    ids = np.arange(start, start + rows)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "name": [f"person {i}" for i in ids],
            "gender": np.where(ids % 2 == 0, "f", "m"),
            "tenure": ids * 1.5,
        }
    )


class Model:
    """A stand-in model: deterministic predictions from the inputs."""

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (x["tenure"].to_numpy() > 10).astype(int)


class DownLog:
    """A store that is down: every append raises."""

    uri = "down://"

    def __init__(self) -> None:
        self.calls = 0

    def append(self, frame: pd.DataFrame) -> int:
        self.calls += 1
        raise ConnectionError("store unreachable")


class SlowLog:
    """The real store behind an append that first sleeps (or waits for ``gate``)."""

    def __init__(self, inner: PredictionLog, seconds: float = 0.0) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.seconds = seconds
        self.gate = threading.Event()
        self.entered = threading.Event()
        if seconds:
            self.gate.set()

    def append(self, frame: pd.DataFrame) -> int:
        self.entered.set()
        time.sleep(self.seconds)
        self.gate.wait(30)
        return self.inner.append(frame)


def rows_in(log: PredictionLog, model: str = "churn") -> pd.DataFrame:
    try:
        return log.read(model=model)
    except Exception:  # nothing written yet
        return pd.DataFrame(columns=list(META))


def timed_records(recorder: Recorder, model: Model, calls: int) -> tuple[list[float], int]:
    """``calls`` one-row predictions, each recorded; record()'s times, predictions checked."""
    times = []
    for i in range(calls):
        x = frame(1, start=i)
        prediction = model.predict(x)
        t = time.perf_counter()
        recorder.record(x, prediction)
        times.append(time.perf_counter() - t)
        # the prediction the caller returns is untouched by capture
        assert prediction.tolist() == [int(i * 1.5 > 10)]
    return times, calls


def test_rows_recorded_equal_rows_written(log: PredictionLog, recorders: list[Recorder]) -> None:
    recorder = Recorder(log, model="churn", version="3", flush_rows=20, flush_seconds=0.05)
    recorders.append(recorder)
    sizes = [1 + i % 4 for i in range(40)]
    start, before = 0, pd.Timestamp.now(tz="UTC")
    for i, size in enumerate(sizes):
        x = frame(size, start=start)
        recorder.record(x, Model().predict(x), request_id=f"r{i}")
        start += size
    stats = recorder.close()
    after = pd.Timestamp.now(tz="UTC")

    assert stats == {"recorded": sum(sizes), "written": sum(sizes), "dropped": 0, "queued": 0}
    rows = rows_in(log).sort_values("customer_id").reset_index(drop=True)
    assert len(rows) == sum(sizes)
    assert list(rows.columns[:4]) == list(META)
    assert set(rows.columns) == {
        *META, "customer_id", "name", "gender", "tenure", "prediction", "mm_dropped"
    }  # fmt: skip
    assert rows["mm_dropped"].sum() == 0  # nothing was dropped before any batch
    assert (rows["mm_model"] == "churn").all() and (rows["mm_version"] == "3").all()
    assert rows["mm_time"].between(before, after).all()
    assert rows.groupby("mm_request_id").size().to_dict() == {
        f"r{i}": size for i, size in enumerate(sizes)
    }
    expected = frame(sum(sizes))
    assert rows["customer_id"].tolist() == expected["customer_id"].tolist()
    assert rows["prediction"].tolist() == Model().predict(expected).tolist()


def test_request_ids_default_to_one_uuid_per_request(
    log: PredictionLog, recorders: list[Recorder]
) -> None:
    recorder = Recorder(log, model="churn", version="1")
    recorders.append(recorder)
    recorder.record(frame(3), [0, 1, 0])
    recorder.record(frame(2, start=3), [1, 1])
    recorder.close()
    sizes = rows_in(log).groupby("mm_request_id").size()
    assert sorted(sizes.tolist()) == [2, 3]
    assert all(len(r) == 36 for r in sizes.index)


def test_allow_list_keeps_only_the_allowed_input_columns(
    log: PredictionLog, recorders: list[Recorder]
) -> None:
    recorder = Recorder(log, model="churn", version="1", allow=["tenure", "not_sent"])
    recorders.append(recorder)
    x = frame(5)
    recorder.record(x, Model().predict(x))
    recorder.close()
    rows = rows_in(log)
    assert list(rows.columns) == [*META, "tenure", "prediction", "mm_dropped"]
    assert rows["tenure"].tolist() == x["tenure"].tolist()


def test_hashed_ids_are_salted_deterministic_and_kept(
    log: PredictionLog, recorders: list[Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_MONITOR_HASH_SALT", "pepper")
    recorder = Recorder(log, model="churn", version="1", allow=["tenure"], hash_ids=["customer_id"])
    recorders.append(recorder)
    x = frame(4)
    recorder.record(x, Model().predict(x))
    recorder.record(x.iloc[[2]], Model().predict(x.iloc[[2]]))  # the same customer again
    recorder.record(  # an id column with a null reads as floats; 2.0 hashes as 2
        pd.DataFrame({"customer_id": [2.0, None], "tenure": [1.0, 2.0]}), [0, 0]
    )
    recorder.close()
    rows = rows_in(log)
    assert list(rows.columns) == [*META, "customer_id", "tenure", "prediction", "mm_dropped"]
    expected = [hashlib.sha256(f"pepper{i}".encode()).hexdigest() for i in [0, 1, 2, 3, 2, 2]]
    assert rows["customer_id"].tolist() == [*expected, None]
    assert hash_value(2, "pepper") == expected[2]
    assert not set(map(str, range(4))) & set(rows["customer_id"].dropna())


def test_unsalted_hashing_warns_once(
    log: PredictionLog, recorders: list[Recorder], monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.delenv("MLFLOW_MONITOR_HASH_SALT", raising=False)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        recorder = Recorder(log, model="churn", version="1", hash_ids=["customer_id"])
        recorders.append(recorder)
        recorder.record(frame(2), [0, 1])
        recorder.record(frame(2), [0, 1])
        recorder.close()
    warnings = [r for r in caplog.records if "MLFLOW_MONITOR_HASH_SALT" in r.getMessage()]
    assert len(warnings) == 1
    assert rows_in(log)["customer_id"].tolist()[:2] == [
        hashlib.sha256(b"0").hexdigest(),
        hashlib.sha256(b"1").hexdigest(),
    ]


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (
            pd.DataFrame({"prediction": [1, 0], "churn_score": [0.9, 0.2]}),
            {"prediction": [1, 0], "churn_score": [0.9, 0.2]},
        ),
        (pd.Series([0, 1], index=[7, 8]), {"prediction": [0, 1]}),
        (np.array([[0.3, 0.7], [0.6, 0.4]]), {"score": [0.7, 0.4]}),
        (np.array([[1], [0]]), {"prediction": [1, 0]}),
        (["yes", "no"], {"prediction": ["yes", "no"]}),
        (
            [{"prediction": 1, "score": 0.8}, {"prediction": 0, "score": 0.1}],
            {"prediction": [1, 0], "score": [0.8, 0.1]},
        ),
        (pd.DataFrame({"tenure": [5.0, 6.0]}), {"tenure": [0.0, 1.5], "tenure_output": [5.0, 6.0]}),
    ],
    ids=["frame", "series", "proba", "column", "list", "records", "clash"],
)
def test_output_shapes_become_named_columns(
    log: PredictionLog, recorders: list[Recorder], outputs: Any, expected: dict[str, list[Any]]
) -> None:
    recorder = Recorder(log, model="churn", version="1", allow=["tenure"])
    recorders.append(recorder)
    recorder.record(frame(2), outputs)
    assert recorder.close()["written"] == 2
    rows = rows_in(log)
    outputs = [c for c in expected if c != "tenure"]
    assert list(rows.columns) == [*META, "tenure", *outputs, "mm_dropped"]
    for column, values in expected.items():
        assert rows[column].tolist() == values


def test_outputs_that_do_not_match_the_inputs_are_dropped_and_counted(
    log: PredictionLog, recorders: list[Recorder]
) -> None:
    recorder = Recorder(log, model="churn", version="1")
    recorders.append(recorder)
    recorder.record(frame(2), [1, 2, 3])
    recorder.record(frame(2), np.zeros((2, 2, 2)))
    recorder.record(frame(2), [1, 0])
    assert recorder.close() == {"recorded": 6, "written": 2, "dropped": 4, "queued": 0}
    assert len(rows_in(log)) == 2


def test_store_down_costs_rows_not_requests(recorders: list[Recorder], caplog: Any) -> None:
    down = DownLog()
    recorder = Recorder(down, model="churn", version="1", flush_rows=50, flush_seconds=0.05)
    recorders.append(recorder)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        times, calls = timed_records(recorder, Model(), 200)
        stats = recorder.close(timeout=20)
    assert np.percentile(times, 99) < 0.050, np.percentile(times, [50, 99, 100])
    assert stats == {"recorded": calls, "written": 0, "dropped": calls, "queued": 0}
    assert down.calls >= 2  # each batch tried twice
    assert down.calls % 2 == 0
    dropped_warnings = [r for r in caplog.records if "captured rows dropped" in r.getMessage()]
    assert len(dropped_warnings) == 1  # at most once a minute
    assert sum("closed:" in r.getMessage() for r in caplog.records) == 1


def test_slow_store_costs_rows_not_requests(log: PredictionLog, recorders: list[Recorder]) -> None:
    slow = SlowLog(log, seconds=2.0)
    recorder = Recorder(
        slow, model="churn", version="1", buffer_rows=50, flush_rows=10, flush_seconds=0.05
    )
    recorders.append(recorder)
    times, calls = timed_records(recorder, Model(), 200)
    assert np.percentile(times, 99) < 0.050, np.percentile(times, [50, 99, 100])
    stats = recorder.close(timeout=30)
    rows = rows_in(log)
    assert stats["queued"] == 0 and stats["recorded"] == calls
    assert stats["written"] == len(rows) > 0
    assert stats["dropped"] == calls - len(rows) > 0  # exactly the rows not in the store
    assert rows["customer_id"].is_unique


def test_full_buffer_drops_and_counts(log: PredictionLog, recorders: list[Recorder]) -> None:
    blocked = SlowLog(log)  # its append waits for the gate
    recorder = Recorder(blocked, model="churn", version="1", buffer_rows=10, flush_rows=1)
    recorders.append(recorder)
    recorder.record(frame(1), [0])
    assert blocked.entered.wait(10)  # that row is in flight, the writer is stuck
    for i in range(1, 21):
        recorder.record(frame(1, start=i), [0])
    recorder.record(frame(11, start=100), [0] * 11)  # larger than the whole buffer
    assert recorder.stats() == {"recorded": 32, "written": 0, "dropped": 22, "queued": 10}
    blocked.gate.set()
    assert recorder.close() == {"recorded": 32, "written": 10, "dropped": 22, "queued": 0}
    written = rows_in(log)
    assert sorted(written["customer_id"]) == list(range(10))
    # the drops reach the log with the next batch written after them: a window knows its loss
    assert written["mm_dropped"].sum() == 22


def test_close_writes_what_is_queued_and_later_records_are_dropped(
    log: PredictionLog, recorders: list[Recorder]
) -> None:
    recorder = Recorder(log, model="churn", version="1", flush_seconds=3600)
    recorders.append(recorder)
    recorder.record(frame(3), [0, 0, 1])
    assert recorder.stats()["queued"] == 3
    assert recorder.close()["written"] == 3
    recorder.record(frame(2), [0, 0])
    assert recorder.stats() == {"recorded": 5, "written": 3, "dropped": 2, "queued": 0}
    assert len(rows_in(log)) == 3


def test_flush_writes_now(log: PredictionLog, recorders: list[Recorder]) -> None:
    recorder = Recorder(log, model="churn", version="1", flush_seconds=3600)
    recorders.append(recorder)
    recorder.record(frame(2), [0, 1])
    assert recorder.flush(timeout=10)
    assert len(rows_in(log)) == 2


def test_a_forked_worker_starts_afresh(log: PredictionLog, recorders: list[Recorder]) -> None:
    recorder = Recorder(log, model="churn", version="1", flush_seconds=3600)
    recorders.append(recorder)
    recorder.record(frame(3), [0, 0, 0])  # queued in the parent when it forks
    pid = os.fork()
    if pid == 0:  # the child writes its own rows only, never the parent's
        code = 1
        try:
            recorder.record(frame(1, start=50), [1])
            stats = recorder.close(timeout=10)
            code = 0 if stats == {"recorded": 1, "written": 1, "dropped": 0, "queued": 0} else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert recorder.close()["written"] == 3
    assert sorted(rows_in(log)["customer_id"]) == [0, 1, 2, 50]


def test_inputs_other_than_frames_are_taken_row_by_row(
    log: PredictionLog, recorders: list[Recorder]
) -> None:
    recorder = Recorder(log, model="churn", version="1")
    recorders.append(recorder)
    recorder.record({"tenure": [1.0, 2.0, 3.0]}, [0, 1, 1])  # a dict of columns: 3 rows
    recorder.record(frame(0), [])  # no rows: nothing to record
    assert recorder.close() == {"recorded": 3, "written": 3, "dropped": 0, "queued": 0}
    assert rows_in(log)["tenure"].tolist() == [1.0, 2.0, 3.0]


def test_record_never_raises(recorders: list[Recorder]) -> None:
    recorder = Recorder(DownLog(), model="churn", version="1")
    recorders.append(recorder)
    recorder.record(None, None)  # type: ignore[arg-type]
    recorder.record(object(), [1])  # type: ignore[arg-type]
    recorder.record(frame(2), object())
    stats = recorder.close(timeout=5)
    assert stats["queued"] == 0


def test_an_unreachable_uri_is_opened_lazily_and_costs_rows(
    tmp_path: Path, recorders: list[Recorder]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    recorder = Recorder(str(blocker / "log"), model="churn", version="1", flush_seconds=0.05)
    recorders.append(recorder)
    recorder.record(frame(2), [0, 1])
    assert recorder.close(timeout=10) == {"recorded": 2, "written": 0, "dropped": 2, "queued": 0}


def test_counts_are_logged_periodically(
    log: PredictionLog, recorders: list[Recorder], caplog: Any
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        recorder = Recorder(log, model="churn", version="1", flush_seconds=0.05, stats_seconds=0)
        recorders.append(recorder)
        recorder.record(frame(2), [0, 1])
        recorder.flush(timeout=10)
        time.sleep(0.2)
        recorder.close()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("recorded=2 written=2 dropped=0 queued=0" in line for line in lines)


def test_importing_the_recorder_loads_no_pandas_notebooks_or_evidently() -> None:
    code = (
        "import sys, mlflow_monitor.adapters.capture.recorder; "
        "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'mlflow', 'papermill', "
        "'evidently', 'nbformat') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_settings_are_checked() -> None:
    with pytest.raises(TypeError):
        Recorder("x", model="m", version="1", allow="tenure")
    with pytest.raises(ValueError):
        Recorder("x", model="m", version="1", buffer_rows=0)

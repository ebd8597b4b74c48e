"""data.py: schema-only validation, chunked reads, time windows, one-line errors naming a cause."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from mlflow_monitor.adapters.sources import files as data
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.verdicts.evaluation import window_bounds

SPEC = {
    "model": "m",
    "task": "binary_classification",
    "columns": {
        "timestamp": "ts",
        "target": "y",
        "prediction": "pred",
        "numerical": ["x"],
        "categorical": ["c"],
    },
}


@pytest.fixture
def spec() -> MonitorSpec:
    return parse_spec(SPEC)


def _frame(rows: int = 10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.date_range("2025-01-01", periods=rows, freq="h", tz="UTC"),
            "x": range(rows),
            "c": ["a", "b"] * (rows // 2),
            "pred": [0, 1] * (rows // 2),
            "y": [1, 1] * (rows // 2),
        }
    )


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_missing_column_names_file_column_and_role(
    spec: MonitorSpec, tmp_path: Path, suffix: str
) -> None:
    path = _write(_frame().drop(columns=["c"]), tmp_path / f"window{suffix}")
    with pytest.raises(DataError) as err:
        data.validate_data(spec, path)
    assert str(err.value) == f"window{suffix}: missing column 'c' (columns.categorical)"


def test_parquet_schema_and_rows_come_from_the_footer(tmp_path: Path) -> None:
    info = data.inspect_data(_write(_frame(8), tmp_path / "w.parquet"))
    assert info.rows == 8
    assert set(info.columns) == {"ts", "x", "c", "pred", "y"}
    assert info.columns["x"] == "int64"


def test_parquet_directory_is_one_dataset(spec: MonitorSpec, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    _write(_frame(4), folder / "a.parquet")
    _write(_frame(6), folder / "b.parquet")
    assert data.validate_data(spec, folder).rows == 10
    assert len(data.load_window(spec, folder)) == 10


def test_target_is_optional_in_a_window(spec: MonitorSpec, tmp_path: Path) -> None:
    path = _write(_frame().drop(columns=["y"]), tmp_path / "w.parquet")
    assert "y" not in data.load_window(spec, path).columns
    with pytest.raises(DataError, match=r"missing column 'y' \(columns.target\)"):
        data.validate_data(spec, path, need_target=True)


def test_empty_file_is_an_error(spec: MonitorSpec, tmp_path: Path) -> None:
    path = _write(_frame().iloc[0:0], tmp_path / "w.parquet")
    with pytest.raises(DataError) as err:
        data.validate_data(spec, path)
    assert str(err.value) == "w.parquet: the window is empty (0 rows)"


@pytest.mark.parametrize(
    ("name", "message"),
    [("nope.parquet", "file not found"), ("w.xlsx", "unsupported format '.xlsx'")],
)
def test_bad_paths(spec: MonitorSpec, tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    if name.endswith(".xlsx"):
        path.write_text("x")
    with pytest.raises(DataError, match=message):
        data.validate_data(spec, path)


def test_time_window_is_half_open(spec: MonitorSpec, tmp_path: Path) -> None:
    path = _write(_frame(10), tmp_path / "w.parquet")
    start = datetime(2025, 1, 1, 2, tzinfo=timezone.utc)
    end = datetime(2025, 1, 1, 5, tzinfo=timezone.utc)
    frame = data.load_window(spec, path, start, end)
    assert list(frame["x"]) == [2, 3, 4]
    assert window_bounds(spec, frame, None, None)[0] == start


def test_time_window_without_rows_names_the_range(spec: MonitorSpec, tmp_path: Path) -> None:
    path = _write(_frame(10), tmp_path / "w.parquet")
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(DataError) as err:
        data.load_window(spec, path, start, None)
    assert (
        str(err.value) == "w.parquet: the window is empty (0 rows in [2030-01-01T00:00:00Z, +inf))"
    )


def test_chunks_are_bounded_and_complete(tmp_path: Path) -> None:
    path = _write(_frame(100), tmp_path / "w.parquet")
    chunks = list(data.iter_chunks(path, ["x"], rows=30))
    assert [len(c) for c in chunks] == [30, 30, 30, 10]
    assert pd.concat(chunks)["x"].tolist() == list(range(100))


def test_bad_time_names_the_option() -> None:
    with pytest.raises(DataError) as err:
        data.parse_time("last tuesday", "window-start")
    assert str(err.value) == "--window-start: not an ISO 8601 time: 'last tuesday'"
    naive = data.parse_time("2025-01-01T00:00:00", "window-end")
    assert naive == datetime(2025, 1, 1, tzinfo=timezone.utc)

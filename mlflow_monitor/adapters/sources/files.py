"""Read reference data and windows (parquet file or directory, CSV); validate them against a spec.

Validation works from the schema where the format has one: a parquet file's columns and row
count come from its footer, so a 10 GB window is checked without loading it. Large references are
read in parquet row groups (``iter_chunks``) so they are profiled in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from mlflow_monitor.contract import CAPTURE_DROPPED_COLUMN, parse_utc, utc_text
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import MonitorSpec

__all__ = [
    "DataInfo",
    "inspect_data",
    "iter_chunks",
    "load_window",
    "missing_output_rows",
    "monitored_columns",
    "output_columns",
    "parse_time",
    "read_frame",
    "validate_data",
    "validate_frame",
    "window_rows",
    "write_frame",
]

_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class DataInfo:
    """Columns (name -> dtype text) and row count of a data file, read without loading the rows.

    ``rows`` is None for CSV, whose length is only known by reading it.
    """

    path: Path
    columns: dict[str, str]
    rows: int | None


def _kind(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        if not any(path.rglob("*.parquet")):
            raise DataError(f"{path}: directory holds no .parquet files")
        return "parquet"
    suffix = path.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    raise DataError(f"{path}: unsupported format {suffix!r} (use .parquet or .csv)")


def inspect_data(path: str | Path) -> DataInfo:
    """Schema and row count of ``path`` (parquet: from the footer; CSV: dtypes of 1k rows)."""
    file = Path(path)
    if _kind(file) == "csv":
        head = _read_csv(file, nrows=1000)
        return DataInfo(file, {str(c): str(t) for c, t in head.dtypes.items()}, None)
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(file), format="parquet")
        rows = dataset.count_rows()
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for corrupt files
        raise DataError(f"{file}: not a readable parquet file ({exc})") from None
    return DataInfo(file, {f.name: str(f.type) for f in dataset.schema}, int(rows))


def validate_data(
    spec: MonitorSpec,
    path: str | Path,
    *,
    need_target: bool = False,
    what: str = "window",
    outputs_optional: bool = False,
) -> DataInfo:
    """Check that ``path`` has every column the spec needs and at least one row.

    The error names the file, the first missing column and the spec key that requires it.
    ``outputs_optional``: the model's output columns (prediction, score, probabilities) may be
    absent, because the monitor will score the window itself.
    """
    info = inspect_data(path)
    for column, role in _required_roles(spec, need_target, outputs_optional):
        if column not in info.columns:
            raise DataError(f"{info.path.name}: missing column {column!r} (columns.{role})")
    if info.rows == 0:
        raise DataError(f"{info.path.name}: the {what} is empty (0 rows)")
    return info


def validate_frame(
    spec: MonitorSpec,
    frame: object,
    *,
    what: str = "window",
    need_target: bool = False,
    outputs_optional: bool = False,
) -> pd.DataFrame:
    """``validate_data`` for an in-memory DataFrame; the error names the DataFrame's role."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"the {what}: expected a pandas DataFrame, got {type(frame).__name__}")
    for column, role in _required_roles(spec, need_target, outputs_optional):
        if column not in frame.columns:
            raise DataError(f"the {what} DataFrame: missing column {column!r} (columns.{role})")
    if frame.empty:
        raise DataError(f"the {what} DataFrame: the {what} is empty (0 rows)")
    cols = spec.columns
    numeric = [("numerical", n) for n in cols.numerical]
    numeric += [("score", cols.score)] if cols.score else []
    numeric += [("probabilities", n) for n in cols.probabilities]
    numeric = [(role, name) for role, name in numeric if name in frame.columns]
    for role, name in numeric:
        _check_numeric(frame[name], f"the {what} DataFrame: column {name!r} (columns.{role})")
    return frame


def _check_numeric(series: pd.Series, where: str) -> None:
    """A column declared numerical holds numbers (or values that read as numbers, or nulls)."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return
    try:
        coerced = pd.to_numeric(series, errors="coerce")
    except TypeError:  # values pandas cannot even try (dicts, lists)
        coerced = pd.Series(float("nan"), index=series.index)
    bad = coerced.isna() & series.notna()
    if bool(bad.any()):
        example = repr(series[bad].iloc[0])[:60]
        raise DataError(
            f"{where} is declared numerical but holds non-numeric values (e.g. {example})"
        )


def write_frame(frame: pd.DataFrame, path: Path, *, what: str = "window") -> Path:
    """Write a DataFrame as parquet (what the notebooks read); a column parquet cannot hold is
    a ``DataError`` naming it."""
    import pyarrow as pa

    try:
        frame.to_parquet(path, index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        column = next((str(c) for c in frame.columns if not _storable(frame[c])), None)
        where = f"column {column!r}" if column is not None else "a column"
        detail = str(exc).splitlines()[0][:200]
        raise DataError(
            f"the {what} DataFrame: {where} cannot be stored as parquet ({detail})"
        ) from None
    return path


def _storable(series: pd.Series) -> bool:
    import pyarrow as pa

    try:
        pa.array(series, from_pandas=True)
    except (pa.ArrowException, ValueError, TypeError):
        return False
    return True


_OUTPUT_ROLES = ("prediction", "score", "probabilities")


def _required_roles(
    spec: MonitorSpec, need_target: bool, outputs_optional: bool = False
) -> list[tuple[str, str]]:
    cols = spec.columns
    pairs: list[tuple[str, str]] = []
    for role in ("id", "timestamp", "prediction", "score"):
        name = getattr(cols, role)
        if name:
            pairs.append((name, role))
    if need_target and cols.target:
        pairs.append((cols.target, "target"))
    for role in ("probabilities", "numerical", "categorical", "protected", "segments"):
        pairs.extend((name, role) for name in getattr(cols, role))
    if outputs_optional:
        pairs = [(name, role) for name, role in pairs if role not in _OUTPUT_ROLES]
    return list(dict.fromkeys(pairs))


def output_columns(spec: MonitorSpec) -> list[str]:
    """The model's output columns the spec names: prediction, score, probabilities."""
    cols = spec.columns
    return [n for n in (cols.prediction, cols.score, *cols.probabilities) if n]


def monitored_columns(
    spec: MonitorSpec, info: DataInfo, *, extra: Sequence[str] = ()
) -> list[str]:
    """Columns a monitor reads from a file: the spec's required ones that the file has, the
    target when present, and ``extra`` ones (a model's inputs, when the monitor scores)."""
    names = [n for n in spec.columns.required() if n in info.columns]
    if spec.columns.target and spec.columns.target in info.columns:
        names.append(spec.columns.target)
    if CAPTURE_DROPPED_COLUMN in info.columns:  # a window assembled from captured predictions
        names.append(CAPTURE_DROPPED_COLUMN)
    names += [n for n in extra if n in info.columns]
    return list(dict.fromkeys(names))


def missing_output_rows(spec: MonitorSpec, info: DataInfo) -> int | None:
    """Rows of the file without some model output (the most over the output columns).

    An absent column counts every row; parquet answers from its footer's null counts, CSV by
    reading the output columns. None when the count is unknown (a CSV's length, a footer
    without statistics): the caller must assume scoring may be needed.
    """
    outputs = output_columns(spec)
    if any(name not in info.columns for name in outputs):
        return info.rows
    if _kind(info.path) == "csv":
        frame = _read_csv(info.path, usecols=outputs)
        return int(frame.isna().any(axis=1).sum())
    return _parquet_nulls(info.path, outputs)


def _parquet_nulls(path: Path, columns: list[str]) -> int | None:
    import pyarrow.parquet as pq

    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    worst = 0
    for file in files:
        meta = pq.ParquetFile(file).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        for name in columns:
            total = 0
            for group in range(meta.num_row_groups):
                stats = meta.row_group(group).column(names.index(name)).statistics
                if stats is None or not stats.has_null_count:
                    return None
                total += int(stats.null_count)
            worst = max(worst, total)
    return worst


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        return pd.read_csv(path, sep=sep, **kwargs)  # type: ignore[call-overload, no-any-return]
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from None


def read_frame(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The whole file (only ``columns`` when given) as a DataFrame."""
    file = Path(path)
    if _kind(file) == "csv":
        return _read_csv(file, usecols=columns)
    import pyarrow.dataset as ds

    try:
        table = ds.dataset(str(file), format="parquet").to_table(columns=columns)
    except Exception as exc:
        raise DataError(f"{file}: cannot read parquet ({str(exc).splitlines()[0]})") from None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def iter_chunks(
    path: str | Path, columns: list[str] | None = None, rows: int = 250_000
) -> Iterator[pd.DataFrame]:
    """The file as DataFrames of at most ``rows`` rows (parquet record batches, CSV chunks)."""
    file = Path(path)
    if _kind(file) == "csv":
        sep = "\t" if file.suffix.lower() == ".tsv" else ","
        yield from pd.read_csv(file, sep=sep, usecols=columns, chunksize=rows)
        return
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(file), format="parquet")
    for batch in dataset.to_batches(columns=columns, batch_size=rows):
        if batch.num_rows:
            yield batch.to_pandas()


def parse_time(text: str | None, name: str) -> datetime | None:
    """A timezone-aware UTC datetime from ISO 8601 text (naive means UTC); None for empty."""
    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError:
        raise DataError(f"--{name}: not an ISO 8601 time: {text!r}") from None


def _utc(series: pd.Series, name: str) -> pd.Series:
    try:
        converted = pd.to_datetime(series, utc=True)
    except (ValueError, TypeError):
        raise DataError(f"{name}: timestamp column holds values that are not times") from None
    return converted


def load_window(
    spec: MonitorSpec,
    path: str | Path,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    extra_columns: Sequence[str] = (),
    outputs_optional: bool = False,
) -> pd.DataFrame:
    """The spec's columns of a window, rows in ``[start, end)`` by ``columns.timestamp``.

    Without a timestamp column ``start``/``end`` only label the window. An empty result is a
    ``DataError`` (a window with no rows cannot be judged, and must never read as healthy).
    ``extra_columns`` (a model's inputs) are read too when the file has them;
    ``outputs_optional`` lets the model's outputs be absent (the monitor scores the window).
    """
    info = validate_data(spec, path, outputs_optional=outputs_optional)
    frame = read_frame(info.path, monitored_columns(spec, info, extra=extra_columns))
    return window_rows(spec, frame, start, end, source=info.path.name)


def window_rows(
    spec: MonitorSpec,
    frame: pd.DataFrame,
    start: datetime | None,
    end: datetime | None,
    *,
    source: str,
) -> pd.DataFrame:
    """The rows in ``[start, end)`` by ``columns.timestamp``; none left is a ``DataError``."""
    ts = spec.columns.timestamp
    if not (ts and (start or end)):
        return frame
    stamps = _utc(frame[ts], ts)
    keep = pd.Series(True, index=frame.index)
    if start:
        keep &= stamps >= pd.Timestamp(start)
    if end:
        keep &= stamps < pd.Timestamp(end)
    frame = frame.loc[keep.to_numpy()].reset_index(drop=True)
    if frame.empty:
        shown = f"[{utc_text(start) if start else '-inf'}, {utc_text(end) if end else '+inf'})"
        raise DataError(f"{source}: the window is empty (0 rows in {shown})")
    return frame

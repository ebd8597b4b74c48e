"""The embedded prediction log: partitioned parquet files in a local folder (``ParquetLog``).

URI: a plain path or ``file:///abs/path``; the folder (the *root*) is created on first write.

Layout::

    <root>/predictions/model=<quoted model>/date=YYYY-MM-DD/<part>.parquet
    <root>/labels/model=<quoted model>/<part>.parquet
    <root>/.compact.lock      compactions and retention, one at a time (held throughout)
    <root>/.swap.lock         readers (shared, briefly) against file swaps (exclusive, briefly)

``<quoted model>`` is ``urllib.parse.quote(model, safe="")`` (a ``/`` or a space in a model name
stays inside one folder name). The date is the UTC date of ``mm_time``; an append whose rows span
several models or days writes one file per (model, day). ``<part>`` is
``<UTC ns>-<pid>-<uuid4 hex>``, unique across processes and sorting in write order. Files and
folders whose names start with ``.`` (temporary files, partitions being deleted) are never read.
Stored types: ``mm_request_id``, ``mm_model``, ``mm_version`` strings, ``mm_time``
``timestamp[us, UTC]`` (naive times are UTC); the model's columns as pandas gives them to arrow
(dictionaries decoded). Labels: ``id`` string, ``label`` as given, ``event_time`` and ``added_at``
``timestamp[us, UTC]``.

Appends are atomic and take no lock. Each file is written under a dot-name in its final folder,
fsynced, then ``os.replace``d to its unique final name: a rename within one folder is atomic, so a
reader lists either no file or the whole file, and two writers never write the same name. (The
folder is not fsynced: after a power loss an append may be missing, never torn.) A reader that
finds a file gone between listing and opening it lists again.

Compaction, and the reader rule. ``compact`` merges the small files of a date partition (each
under 64 MB, grouped up to about 64 MB) into one file, under ``.compact.lock`` (one compaction or
retention at a time; appends never wait). Replacing k files by one cannot be one atomic step, so
two mechanisms make readers exact:

1. *Inputs recorded in the merged file.* The merged file's parquet key-value metadata lists its
   input file names (``mm_merged_from``). Readers drop every file that a file of the same
   partition lists as an input. So the states a partition goes through — inputs only; merged file
   and all inputs; merged file and some inputs; merged file only — all read as the same rows once.
   This also covers a compaction killed between the rename and the deletions: its leftover inputs
   are ignored by readers and deleted by the next ``compact``.
2. *A short swap lock.* A directory listing is not a snapshot: POSIX leaves unspecified whether
   ``readdir`` returns an entry added or removed while it runs, so without more a reader could
   miss both a merged file renamed in mid-listing and an input deleted in mid-listing, and lose
   rows. So the rename of a merged file and the deletion of its inputs happen under an exclusive
   ``flock`` on ``.swap.lock``, and a reader holds it shared only while it lists the folders and
   ``mmap``s the files (milliseconds); it parses and scans the mapped files after releasing it
   (a mapping stays readable after its file is deleted). Appends only add files, atomically, so
   they need no part in this. Under the shared lock each partition is therefore seen wholly
   before or wholly after a swap. A reader that cannot create the lock file (a read-only root)
   reads without it and relies on rule 1 alone (exact unless a compaction by another user swaps
   files during its listing).

In the tests, a reader looping during compactions (with deletions slowed down) sees duplicates
when both mechanisms are removed, and exact rows with either one or both.

Retention deletes whole date partitions before the cut's date (renamed to a dot-name under the
swap lock, so readers see all or none of one, then removed) and rewrites the files of the cut's
own date that hold older rows, as a compaction does: the rewrite lists the file it replaces.
Label files (one per ``add_labels`` call) are neither compacted nor expired.

Why hand-written: ``pyarrow.dataset.write_dataset`` writes each file straight to its final name,
with no temporary name (a concurrent reader can open a half-written file), and names files from a
per-call counter (``part-{i}``): two processes, or two calls, appending to one partition overwrite
each other's ``part-0.parquet`` unless every caller invents unique templates; and it has no
merge-and-swap step. Measured by ``benchmarks/bench_prediction_log.py`` (2 processes x 50 calls
x 100 rows, ``existing_data_behavior="overwrite_or_ignore"``): 100 of the 10,000 rows survive, in
one ``part-0.parquet``.

Measured (``.venv/bin/python benchmarks/bench_prediction_log.py --rows 1000000``; 2 CPUs AMD
EPYC, load ~1.4, Python 3.11, pyarrow 25, files in the page cache; churn-like rows: ``META`` + 10
model columns):

- appends of 1,000-row batches: 1,000,000 rows in 6.3 s = 158,000 rows/s (4.9 ms per append at
  the median, 16 ms at p99); single-row appends: 5,000 in 11.3 s = 441 rows/s (2.1 ms each:
  ~1.1 ms pandas-to-arrow conversion, 0.7 ms parquet write, 0.2 ms fsync);
- ``compact()``: 6,001 files (1,001 + 5,000) into 4 (one per model and day, 54 MB) in 4.9 s;
- ``read(model=, start=, end=)`` of a 24-hour window of 1,000,000 predictions (14 columns) after
  compaction: 1.06 s the first time, then 0.50 s and 0.52 s (before compaction, from 1,001 files:
  1.13 s); one hour of one version (4,162 rows): 0.03 s.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import mmap
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, unquote, urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mlflow_monitor.adapters.prediction_log import (
    COL_MODEL,
    COL_REQUEST,
    COL_TIME,
    COL_VERSION,
    LABEL_COLUMNS,
    META,
    LogStats,
)
from mlflow_monitor.errors import DataError

__all__ = ["ParquetLog"]

PREDICTIONS = "predictions"
LABELS = "labels"
COMPACT_LOCK = ".compact.lock"
SWAP_LOCK = ".swap.lock"
MERGED_FROM = b"mm_merged_from"  # parquet key-value metadata: the input names of a merged file
TARGET_BYTES = 64 * 1024 * 1024  # compaction merges files under this size, up to about this size
ROW_GROUP_ROWS = 128 * 1024  # row groups of merged files (time filters skip whole groups)
STALE_TEMP_SECONDS = 3600.0  # dot-files older than this are leftovers of a killed process
TIME_TYPE = pa.timestamp("us", tz="UTC")
DAY_US = 86_400 * 1_000_000
EPOCH = date(1970, 1, 1)
OPEN_ATTEMPTS = 50


@dataclass(frozen=True)
class _Mapped:
    """One visible parquet file, memory-mapped (readable even after it is deleted)."""

    folder: Path
    name: str
    buffer: Any  # pa.Buffer over the mapping


@dataclass(frozen=True)
class _Live:
    """A file a reader keeps (not listed as the input of a merged file)."""

    mapped: _Mapped
    fragment: Any  # ds.ParquetFileFragment
    schema: pa.Schema
    rows: int


@dataclass(frozen=True)
class _Info:
    """A file as the compactor sees it (by path, under the compaction lock)."""

    name: str
    size: int
    rows: int
    merged_from: frozenset[str]


class ParquetLog:
    """The embedded ``PredictionLog``: parquet files under one local folder (module docstring)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.root = _root_of(uri)

    def __repr__(self) -> str:
        return f"ParquetLog({self.uri!r})"

    # --- paths ----------------------------------------------------------------------------------

    def _model_dir(self, kind: str, model: str) -> Path:
        return self.root / kind / f"model={quote(str(model), safe='')}"

    def _model_dirs(self, model: str | None) -> list[Path]:
        if model is not None:
            folder = self._model_dir(PREDICTIONS, model)
            return [folder] if folder.is_dir() else []
        base = self.root / PREDICTIONS
        if not base.is_dir():
            return []
        return sorted(p for p in base.iterdir() if p.name.startswith("model=") and p.is_dir())

    # --- writing --------------------------------------------------------------------------------

    def append(self, frame: pd.DataFrame) -> int:
        """Store prediction rows; one atomic file per (model, UTC day). Their count."""
        if len(frame) == 0:
            return 0
        table = _prediction_table(frame)
        for (model, day), part in _split(table):
            folder = self._model_dir(PREDICTIONS, model) / f"date={_day_name(day)}"
            _write_atomic(part, folder)
        return int(table.num_rows)

    def add_labels(self, *, model: str, labels: pd.DataFrame) -> int:
        """Store label rows (``id``, ``label``, optional ``event_time``); ``added_at`` is now."""
        table = _label_table(labels)
        if table.num_rows == 0:
            return 0
        _write_atomic(table, self._model_dir(LABELS, model))
        return int(table.num_rows)

    # --- reading --------------------------------------------------------------------------------

    def read(
        self,
        *,
        model: str,
        version: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Predictions of ``model`` made in ``[start, end)`` (one version, or all), ``META`` first.

        ``columns`` picks the model's columns (``META`` always come); a named column that no file
        of the model holds is a ``DataError``. Rows come in ``mm_time`` order (stable: equal times
        in write order); ``mm_time`` is tz-aware UTC. Columns added by later appends are null in
        older rows.
        """
        if isinstance(columns, str):
            raise TypeError("columns is a sequence of column names, not one string")
        lo = None if start is None else _to_us(start)
        hi = None if end is None else _to_us(end)
        first_day = None if lo is None else lo // DAY_US
        last_day = None if hi is None else (hi - 1) // DAY_US
        wanted = None if columns is None else list(dict.fromkeys([*META, *map(str, columns)]))
        model_dir = self._model_dir(PREDICTIONS, model)
        live = _live(self._map(lambda: _date_folders(model_dir, first_day, last_day)))
        if not live:
            fields = [pa.field(c, TIME_TYPE if c == COL_TIME else pa.string()) for c in META]
            fields += [pa.field(c, pa.null()) for c in (wanted or [])[len(META) :]]
            return _frame(pa.schema(fields).empty_table())
        schema = _unify([f.schema for f in live], f"the prediction files of model {model!r}")
        if wanted is None:
            wanted = [*META, *(n for n in schema.names if n not in META)]
        absent = [c for c in wanted if c not in schema.names]
        if absent:
            raise DataError(f"the prediction log of model {model!r} has no column {absent[0]!r}")
        conditions = []
        if version is not None:
            conditions.append(ds.field(COL_VERSION) == pa.scalar(str(version), pa.string()))
        if lo is not None:
            conditions.append(ds.field(COL_TIME) >= pa.scalar(lo, TIME_TYPE))
        if hi is not None:
            conditions.append(ds.field(COL_TIME) < pa.scalar(hi, TIME_TYPE))
        condition = None
        for c in conditions:
            condition = c if condition is None else condition & c
        dataset = ds.FileSystemDataset(
            [f.fragment for f in live], schema=schema, format=ds.ParquetFileFormat()
        )
        table = dataset.to_table(columns=wanted, filter=condition)
        return _frame(_sorted_by(table, COL_TIME))

    def labels(self, *, model: str) -> pd.DataFrame:
        """Every label row of ``model`` (``LABEL_COLUMNS``), in the order they were added."""
        live = _live(self._map(lambda: [self._model_dir(LABELS, model)]))
        if not live:
            return _frame(_label_schema(pa.null()).empty_table())
        schema = _unify([f.schema for f in live], f"the label files of model {model!r}")
        tables = [
            _conform(pq.ParquetFile(pa.BufferReader(f.mapped.buffer)).read(), schema) for f in live
        ]
        table = pa.concat_tables(tables).select(list(LABEL_COLUMNS))
        return _frame(_sorted_by(table, "added_at"))

    def stats(self, *, model: str) -> LogStats:
        """Prediction rows and files of ``model`` (files a reader keeps), and its label rows."""
        model_dir = self._model_dir(PREDICTIONS, model)
        predictions = _live(self._map(lambda: _date_folders(model_dir, None, None)))
        labels = _live(self._map(lambda: [self._model_dir(LABELS, model)]))
        return LogStats(
            predictions=sum(f.rows for f in predictions),
            files=len(predictions),
            labels=sum(f.rows for f in labels),
        )

    def _map(self, folders: Callable[[], list[Path]]) -> list[_Mapped]:
        """``mmap`` every visible file of the folders ``folders()`` lists, under the swap lock.

        A file or folder that vanishes between listing and opening (possible only without the
        lock) restarts the listing.
        """
        if not self.root.is_dir():
            return []
        for _ in range(OPEN_ATTEMPTS):
            with self._swap_lock(exclusive=False):
                try:
                    return [
                        _Mapped(folder, name, _mmap(folder / name))
                        for folder in folders()
                        for name in _visible(folder)
                    ]
                except FileNotFoundError:
                    pass
            time.sleep(0.01)
        raise DataError(f"the files under {self.root} kept changing while being listed")

    # --- compaction and retention ---------------------------------------------------------------

    def compact(self, *, model: str | None = None) -> int:
        """Merge the small files of each date partition; the number of files merged away."""
        merged_away = 0
        if not self.root.is_dir():
            return 0
        with self._compact_lock():
            for model_dir in self._model_dirs(model):
                _sweep_dropped(model_dir)
                for folder in _date_folders(model_dir, None, None):
                    merged_away += self._compact_partition(folder)
        return merged_away

    def apply_retention(self, *, before: datetime) -> int:
        """Drop predictions made before ``before``; the number of rows dropped."""
        cut = _to_us(before)
        cut_day = cut // DAY_US
        dropped = 0
        if not self.root.is_dir():
            return 0
        with self._compact_lock():
            for model_dir in self._model_dirs(None):
                _sweep_dropped(model_dir)
                for folder in _date_folders(model_dir, None, cut_day):
                    if _folder_day(folder.name) < cut_day:
                        dropped += self._drop_partition(folder)
                    else:
                        dropped += self._trim_partition(folder, cut)
        return dropped

    def _compact_partition(self, folder: Path) -> int:
        live = self._clean(folder)
        small = [i for i in live if i.size < TARGET_BYTES]
        groups: list[list[_Info]] = []
        group: list[_Info] = []
        total = 0
        for info in small:
            if group and total + info.size > TARGET_BYTES:
                groups.append(group)
                group, total = [], 0
            group.append(info)
            total += info.size
        groups.append(group)
        merged_away = 0
        for g in groups:
            if len(g) > 1:
                self._merge(folder, g)
                merged_away += len(g) - 1
        return merged_away

    def _clean(self, folder: Path) -> list[_Info]:
        """Delete old temporary files and the inputs of merged files; the files that remain."""
        now = time.time()
        for entry in os.scandir(folder):
            if entry.name.startswith(".tmp-") and now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        infos = []
        for name in _visible(folder):
            meta = pq.read_metadata(folder / name)
            raw = (meta.metadata or {}).get(MERGED_FROM)
            merged_from = frozenset(json.loads(raw)) if raw else frozenset()
            size = (folder / name).stat().st_size
            infos.append(_Info(name, size, int(meta.num_rows), merged_from))
        covered = set().union(*(i.merged_from for i in infos))
        stale = [i for i in infos if i.name in covered]
        if stale:
            with self._swap_lock(exclusive=True):
                for i in stale:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(folder / i.name)
        return [i for i in infos if i.name not in covered]

    def _merge(self, folder: Path, group: list[_Info]) -> None:
        """Write ``group`` as one file (listing its inputs), then swap it in for them."""
        paths = [folder / i.name for i in group]
        schema = _unify([pq.read_schema(p) for p in paths], f"the files of {folder}")
        names = [i.name for i in group]
        tmp, final = _temp_and_final(folder)
        try:
            with pq.ParquetWriter(
                tmp, schema.with_metadata({MERGED_FROM: json.dumps(names).encode()})
            ) as writer:
                pending: list[pa.Table] = []
                rows = 0
                for p in paths:
                    table = _conform(pq.ParquetFile(p).read(), schema)
                    pending.append(table)
                    rows += table.num_rows
                    if rows >= ROW_GROUP_ROWS:
                        pending, rows = _write_full_groups(writer, pending)
                if rows:
                    writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
            _fsync(tmp)
            self._swap(tmp, final, paths)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _trim_partition(self, folder: Path, cut: int) -> int:
        """Rewrite the files of ``folder`` holding rows made before ``cut`` without them."""
        dropped = 0
        for info in self._clean(folder):
            path = folder / info.name
            times = pq.ParquetFile(path).read(columns=[COL_TIME]).column(COL_TIME)
            old = int(pc.sum(pc.less(times, pa.scalar(cut, TIME_TYPE))).as_py() or 0)
            if old == 0:
                continue
            table = pq.ParquetFile(path).read()
            kept = table.filter(pc.greater_equal(table[COL_TIME], pa.scalar(cut, TIME_TYPE)))
            if kept.num_rows:
                meta = {
                    **(kept.schema.metadata or {}),
                    MERGED_FROM: json.dumps([info.name]).encode(),
                }
                tmp, final = _temp_and_final(folder)
                try:
                    pq.write_table(
                        kept.replace_schema_metadata(meta), tmp, row_group_size=ROW_GROUP_ROWS
                    )
                    _fsync(tmp)
                    self._swap(tmp, final, [path])
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
            else:
                self._swap(None, None, [path])
            dropped += old
        return dropped

    def _drop_partition(self, folder: Path) -> int:
        """Hide ``folder`` (one rename, under the swap lock), count its rows, delete it."""
        hidden = folder.with_name(f".drop-{folder.name}-{uuid.uuid4().hex}")
        with self._swap_lock(exclusive=True):
            os.replace(folder, hidden)
        rows = sum(i.rows for i in self._clean(hidden))
        shutil.rmtree(hidden, ignore_errors=True)
        return rows

    def _swap(self, tmp: Path | None, final: Path | None, inputs: Sequence[Path]) -> None:
        """Rename ``tmp`` to ``final`` and delete ``inputs``, as one step for readers."""
        with self._swap_lock(exclusive=True):
            if tmp is not None and final is not None:
                os.replace(tmp, final)
            for p in inputs:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)

    # --- locks ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _compact_lock(self) -> Iterator[None]:
        with _flock(self.root / COMPACT_LOCK, exclusive=True):
            yield

    @contextlib.contextmanager
    def _swap_lock(self, *, exclusive: bool) -> Iterator[None]:
        with _flock(self.root / SWAP_LOCK, exclusive=exclusive):
            yield


@contextlib.contextmanager
def _flock(path: Path, *, exclusive: bool) -> Iterator[None]:
    """An ``flock`` on ``path`` (created if need be), held for the block; a new open file each
    time, so two threads of one process exclude each other too.

    A shared lock whose file cannot be created (a read-only root, where nothing can swap files)
    is skipped.
    """
    try:
        fd: int | None = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as exc:
        if exclusive or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        fd = None
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


# --- helpers ------------------------------------------------------------------------------------


def _root_of(uri: str) -> Path:
    """The folder a plain path or ``file://`` URI names (not created here)."""
    text = str(uri)
    if text.startswith("file:"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"a file URI of a remote host is not supported: {uri!r}")
        text = unquote(parsed.path)
    if not text:
        raise ValueError("the prediction log URI is empty")
    return Path(text).expanduser().absolute()


def _to_us(value: datetime) -> int:
    """Microseconds since the epoch (naive = UTC); rounded up, so ``t >= value`` stays exact."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return -(-int(stamp.value) // 1000)


def _day_name(day: int) -> str:
    return (EPOCH + timedelta(days=int(day))).isoformat()


def _folder_day(name: str) -> int:
    return (date.fromisoformat(name.removeprefix("date=")) - EPOCH).days


def _date_folders(model_dir: Path, first: int | None, last: int | None) -> list[Path]:
    """The ``date=`` folders of a model between two days (inclusive), pruned by name."""
    if not model_dir.is_dir():
        return []
    out = []
    for entry in os.scandir(model_dir):
        if not entry.name.startswith("date=") or not entry.is_dir():
            continue
        try:
            day = _folder_day(entry.name)
        except ValueError:
            continue
        if (first is None or day >= first) and (last is None or day <= last):
            out.append(Path(entry.path))
    return sorted(out)


def _visible(folder: Path) -> list[str]:
    """The parquet files of a folder that readers see (no dot-files), in write order."""
    if not folder.is_dir():
        return []
    return sorted(
        e.name
        for e in os.scandir(folder)
        if not e.name.startswith(".") and e.name.endswith(".parquet")
    )


def _mmap(path: Path) -> Any:
    fd = os.open(path, os.O_RDONLY)
    try:
        if os.fstat(fd).st_size == 0:
            raise DataError(f"the prediction log file {path} is empty")
        return pa.py_buffer(mmap.mmap(fd, 0, access=mmap.ACCESS_READ))
    finally:
        os.close(fd)


def _live(mapped: list[_Mapped]) -> list[_Live]:
    """The mapped files minus those a merged file of their folder lists as its inputs."""
    fmt = ds.ParquetFileFormat()
    parsed = []
    covered: set[tuple[Path, str]] = set()
    for m in mapped:
        try:
            fragment = fmt.make_fragment(pa.BufferReader(m.buffer))
            schema = fragment.physical_schema
            rows = int(fragment.metadata.num_rows)
        except pa.ArrowException as exc:
            raise DataError(f"unreadable prediction log file {m.folder / m.name}: {exc}") from exc
        raw = (schema.metadata or {}).get(MERGED_FROM)
        if raw:
            covered.update((m.folder, n) for n in json.loads(raw))
        parsed.append(_Live(m, fragment, schema, rows))
    return [p for p in parsed if (p.mapped.folder, p.mapped.name) not in covered]


def _unify(schemas: list[pa.Schema], what: str) -> pa.Schema:
    try:
        return pa.unify_schemas(schemas, promote_options="permissive").remove_metadata()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{what} have incompatible column types: {exc}") from exc


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns and types (absent columns null)."""
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            arrays.append(column if column.type == field.type else column.cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _frame(table: pa.Table) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _sorted_by(table: pa.Table, column: str) -> pa.Table:
    """``table`` in ``column`` order, stable; untouched when already in order."""
    if table.num_rows < 2:
        return table
    values = table.column(column)
    if pc.all(pc.greater_equal(values[1:], values[:-1])).as_py():
        return table
    return table.take(pc.sort_indices(values))  # a stable sort


def _write_full_groups(writer: Any, pending: list[pa.Table]) -> tuple[list[pa.Table], int]:
    """Write whole row groups of ``pending``; the rest (fewer rows than a group) and its size."""
    combined = pa.concat_tables(pending)
    full = combined.num_rows // ROW_GROUP_ROWS * ROW_GROUP_ROWS
    writer.write_table(combined.slice(0, full), row_group_size=ROW_GROUP_ROWS)
    rest = combined.slice(full)
    return [rest], rest.num_rows


def _temp_and_final(folder: Path) -> tuple[Path, Path]:
    name = f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex}.parquet"
    return folder / f".tmp-{name}", folder / name


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(table: pa.Table, folder: Path) -> Path:
    """Write ``table`` to a dot-file in ``folder``, fsync it, rename it to a unique final name.

    Retried when the folder vanishes meanwhile (retention removing an old date partition).
    """
    for attempt in range(3):
        folder.mkdir(parents=True, exist_ok=True)
        tmp, final = _temp_and_final(folder)
        try:
            pq.write_table(table, tmp)
            _fsync(tmp)
            os.replace(tmp, final)
            return final
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if attempt == 2:
                raise
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    raise AssertionError("unreachable")


def _sweep_dropped(model_dir: Path) -> None:
    """Remove partitions a killed retention had hidden but not yet deleted."""
    for entry in os.scandir(model_dir):
        if entry.name.startswith(".drop-") and entry.is_dir():
            shutil.rmtree(entry.path, ignore_errors=True)


# --- validation ---------------------------------------------------------------------------------


def _strings(values: pd.Series, column: str) -> pa.Array:
    try:
        return pa.array(values.astype("string"), type=pa.string())
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"column {column!r} cannot be stored as text: {exc}") from exc


def _times(values: pd.Series, column: str, *, nulls: bool) -> pa.Array:
    try:
        stamps = pd.to_datetime(values, utc=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"column {column!r} holds values that are not times: {exc}") from exc
    if not nulls and stamps.isna().any():
        raise DataError(f"column {column!r} has missing times")
    return pc.cast(pa.array(stamps), TIME_TYPE, safe=False)


def _columns_table(frame: pd.DataFrame) -> pa.Table:
    """The model's own columns as arrow (dictionaries decoded, pandas metadata dropped)."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        for name in frame.columns:
            try:
                pa.Table.from_pandas(frame[[name]], preserve_index=False)
            except (pa.ArrowException, TypeError, ValueError) as col_exc:
                raise DataError(f"column {name!r} cannot be stored: {col_exc}") from col_exc
        raise DataError(f"the prediction rows cannot be stored: {exc}") from exc
    arrays = []
    for column in table.columns:
        arrays.append(
            column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
        )
    return pa.Table.from_arrays(arrays, names=table.column_names)


def _prediction_table(frame: pd.DataFrame) -> pa.Table:
    for column in META:
        if column not in frame.columns:
            raise DataError(
                f"prediction rows lack the column {column!r} (every row needs {', '.join(META)})"
            )
    if frame.columns.duplicated().any():
        dup = frame.columns[frame.columns.duplicated()][0]
        raise DataError(f"prediction rows have the column {dup!r} twice")
    own = [c for c in frame.columns if c not in META]
    meta = {
        COL_REQUEST: _strings(frame[COL_REQUEST], COL_REQUEST),
        COL_MODEL: _strings(frame[COL_MODEL], COL_MODEL),
        COL_VERSION: _strings(frame[COL_VERSION], COL_VERSION),
        COL_TIME: _times(frame[COL_TIME], COL_TIME, nulls=False),
    }
    if meta[COL_MODEL].null_count or (len(frame) and pc.any(pc.equal(meta[COL_MODEL], "")).as_py()):
        raise DataError(f"column {COL_MODEL!r} has missing or empty model names")
    rest = _columns_table(frame[own]) if own else pa.table({})
    return pa.Table.from_arrays(
        [*meta.values(), *rest.columns], names=[*meta.keys(), *map(str, rest.column_names)]
    )


def _split(table: pa.Table) -> list[tuple[tuple[str, int], pa.Table]]:
    """The rows of each (model, UTC day), in row order."""
    days = table.column(COL_TIME).cast(pa.int64()).to_numpy() // DAY_US
    models = table.column(COL_MODEL).to_numpy(zero_copy_only=False)
    if (days == days[0]).all() and (models == models[0]).all():
        return [((str(models[0]), int(days[0])), table)]
    groups = pd.DataFrame({"m": models, "d": days}).groupby(["m", "d"], sort=True).indices
    out = []
    for key, idx in groups.items():
        model, day = cast("tuple[str, int]", key)
        out.append(((str(model), int(day)), table.take(pa.array(np.asarray(idx)))))
    return out


def _label_schema(label_type: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("label", label_type),
            pa.field("event_time", TIME_TYPE),
            pa.field("added_at", TIME_TYPE),
        ]
    )


def _label_table(labels: pd.DataFrame) -> pa.Table:
    missing = [c for c in ("id", "label") if c not in labels.columns]
    if missing:
        raise DataError(f"labels lack the column {missing[0]!r} (labels need 'id' and 'label')")
    ids = _strings(labels["id"], "id")
    if ids.null_count:
        raise DataError("column 'id' of the labels has missing ids")
    label = _columns_table(labels[["label"]]).column("label")
    if "event_time" in labels.columns:
        event_time = _times(labels["event_time"], "event_time", nulls=True)
    else:
        event_time = pa.nulls(len(labels), TIME_TYPE)
    now = pd.Timestamp.now(tz="UTC")
    added_at = pa.array(np.full(len(labels), _to_us(now), dtype=np.int64), type=pa.int64())
    schema = _label_schema(label.type)
    return pa.Table.from_arrays([ids, label, event_time, added_at.cast(TIME_TYPE)], schema=schema)

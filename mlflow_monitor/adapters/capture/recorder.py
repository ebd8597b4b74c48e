"""Prediction capture inside a serving process: what a model was asked, and what it answered.

``Recorder.record(inputs, outputs)`` is called once per prediction request, in the request's own
thread. It never raises and never waits: it copies the (allowed) input columns and the outputs
into a bounded in-memory buffer and returns. A daemon thread turns buffered requests into rows
and appends them to a prediction log (``PredictionLog.append``) every ``flush_seconds``, or as
soon as ``flush_rows`` rows are waiting. A store that is down or slow costs rows, never requests:

- when the buffer (``buffer_rows`` rows, the in-flight batch included) is full, a request's rows
  are dropped and counted;
- an ``append`` that raises is retried once; then its batch is dropped and counted;
- a failure is logged as a warning at most once a minute.

Rows. Each request gives one row per input row: the ``META`` columns (``mm_request_id``: the given
id or a uuid4, shared by the request's rows; ``mm_model``, ``mm_version``; ``mm_time``: UTC now),
then the kept input columns under their own names, then the outputs. A 1-D output (array, list,
Series) becomes ``prediction``; a 2-D array becomes ``prediction`` (one column), ``score`` (two
columns: the second one, the positive class of a binary ``predict_proba``) or ``score_0``...
(more); a DataFrame output (or a dict, or a list of dicts) keeps its column names. An output
column named like an input column is stored as ``<name>_output``.

Captured inputs hold personal data and protected attributes. Two settings keep them out of the
log; both apply before anything leaves the serving process:

- ``allow``: only these input columns are kept (``None``: all of them). Columns that are not
  allowed are never copied into the buffer.
- ``hash_ids``: these input columns (identifiers needed to join labels later, such as
  ``customer_id``) are kept, but each value is replaced by the hex ``sha256(salt + str(value))``
  (``hash_value``: nulls stay null, an integral float hashes as the integer), in the writer
  thread, before the rows reach the log. They are kept even when ``allow`` does not name them.
  The salt is read from the environment variable ``salt_env`` (``MLFLOW_MONITOR_HASH_SALT``)
  when the recorder is created; without it the values are hashed unsalted (guessable for small
  id spaces) and a warning says so once. Hash label ids with the same salt for the join.

Counts. ``stats()`` returns ``recorded`` (rows given to ``record``), ``written`` (rows the log
accepted), ``dropped`` (rows lost: full buffer, failed append, outputs that do not match the
inputs, recorder closed) and ``queued`` (rows buffered or being written); ``recorded == written +
dropped + queued`` at any time. The background thread also logs these counts (INFO, logger
``mlflow_monitor.adapters.capture.recorder``) every ``stats_seconds`` (60) when they changed, so
the serving process's log shows them; a monitoring run can log ``dropped`` as a metric.

Shutdown: ``close(timeout)`` writes what is queued (registered with ``atexit``, so a server
stopped with SIGTERM flushes). A recorder inherited by a forked worker starts afresh there.

Import-light: pandas and numpy are imported on first use, the log store when the background
thread first writes; nothing from notebooks, Evidently or workflows.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mlflow_monitor.adapters.prediction_log import (
    COL_DROPPED,
    COL_MODEL,
    COL_REQUEST,
    COL_TIME,
    COL_VERSION,
    META,
    PredictionLog,
    open_log,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SALT_ENV", "Recorder", "hash_value"]

logger = logging.getLogger(__name__)

SALT_ENV = "MLFLOW_MONITOR_HASH_SALT"
WARN_EVERY_SECONDS = 60.0
RETRY_PAUSE_SECONDS = 0.2


@dataclass
class _Request:
    """One ``record`` call, as copied in the request's thread."""

    inputs: dict[str, Any]  # kept column -> a copy of its values (numpy or extension array)
    outputs: Any  # a copy
    request_id: str
    time: datetime
    rows: int


class Recorder:
    """Buffers prediction requests and appends them to a prediction log from a daemon thread."""

    def __init__(
        self,
        log: PredictionLog | str,
        *,
        model: str,
        version: str,
        allow: Sequence[str] | None = None,
        hash_ids: Sequence[str] = (),
        salt_env: str = SALT_ENV,
        buffer_rows: int = 10_000,
        flush_rows: int = 1_000,
        flush_seconds: float = 1.0,
        stats_seconds: float = 60.0,
    ) -> None:
        if isinstance(allow, str) or isinstance(hash_ids, str):
            raise TypeError("allow and hash_ids are sequences of column names, not one string")
        if buffer_rows < 1 or flush_rows < 1 or flush_seconds <= 0:
            raise ValueError("buffer_rows and flush_rows must be >= 1, flush_seconds > 0")
        self._log: PredictionLog | None = None if isinstance(log, str) else log
        self._log_uri = log if isinstance(log, str) else getattr(log, "uri", repr(log))
        self.model = str(model)
        self.version = str(version)
        self.hash_ids = tuple(dict.fromkeys(str(c) for c in hash_ids))
        self.allow = None if allow is None else tuple(dict.fromkeys(str(c) for c in allow))
        self._kept = None if self.allow is None else {*self.allow, *self.hash_ids}
        salt = os.environ.get(salt_env)
        if self.hash_ids and not salt:
            logger.warning(
                "%s is not set: the id columns %s are hashed without a salt (guessable)",
                salt_env,
                list(self.hash_ids),
            )
        self._salt = salt or ""
        self.buffer_rows = int(buffer_rows)
        self.flush_rows = max(1, min(int(flush_rows), self.buffer_rows))
        self.flush_seconds = float(flush_seconds)
        self.stats_seconds = float(stats_seconds)
        self._reset()
        atexit.register(self._at_exit)

    # --- state (also rebuilt in a forked child) ---------------------------------------------

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._buffer: deque[_Request] = deque()
        self._buffered_rows = 0  # rows in _buffer
        self._recorded = 0
        self._written = 0
        self._dropped = 0
        self._reported = 0  # drops already written to the log (COL_DROPPED of a batch)
        self._pending = 0  # rows accepted, neither written nor dropped yet (buffer + in flight)
        self._closed = False
        self._flush_now = False
        self._thread: threading.Thread | None = None
        self._last_warning = -float("inf")
        self._last_stats_line = time.monotonic()
        self._last_stats: dict[str, int] | None = None
        self._last_close: dict[str, int] | None = None

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            with _FORK_LOCK:
                if os.getpid() != self._pid:
                    # the parent's buffer is the parent's to write; its lock may be held
                    self._reset()

    # --- the request thread -----------------------------------------------------------------

    def record(
        self,
        inputs: pd.DataFrame,
        outputs: Any,
        request_id: str | None = None,
    ) -> None:
        """Buffer one request's rows (inputs and outputs row by row); never raises or waits."""
        rows = 0
        reserved = False
        try:
            self._check_fork()
            now = datetime.now(timezone.utc)
            frame = _as_frame(inputs)
            rows = len(frame)
            if rows == 0:
                return
            with self._cond:
                self._recorded += rows
                if self._closed or self._pending + rows > self.buffer_rows:
                    self._dropped += rows
                    return
                self._pending += rows  # reserve the room, copy outside the lock
                reserved = True
            request = _Request(
                inputs=self._kept_inputs(frame),
                outputs=_copy_outputs(outputs),
                request_id=str(uuid.uuid4()) if request_id is None else str(request_id),
                time=now,
                rows=rows,
            )
            with self._cond:
                self._buffer.append(request)
                self._buffered_rows += rows
                if self._buffered_rows >= self.flush_rows:
                    self._cond.notify()
                self._ensure_thread()
        except Exception as exc:  # capture must never fail a prediction
            try:
                with self._cond:
                    if reserved:
                        self._pending -= rows
                        self._dropped += rows
                    elif rows:
                        self._dropped += rows
                self._warn(f"a request could not be captured ({type(exc).__name__}: {exc})")
            except Exception:
                pass

    def _kept_inputs(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Copies of the kept columns' values (a dict of arrays: cheaper than a DataFrame)."""
        kept: dict[str, Any] = {}
        for i, column in enumerate(frame.columns):
            name = str(column)
            if name in kept or (self._kept is not None and name not in self._kept):
                continue
            values = frame.iloc[:, i] if frame.columns.has_duplicates else frame[column]
            kept[name] = values.array.copy()
        return kept

    def _ensure_thread(self) -> None:
        """Start the writer on first use (called under the lock)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name=f"mlflow-monitor-capture-{self.model}", daemon=True
            )
            self._thread.start()

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_seconds
        while True:
            with self._cond:
                while (
                    not self._closed
                    and not self._flush_now
                    and self._buffered_rows < self.flush_rows
                    and time.monotonic() < next_flush
                ):
                    self._cond.wait(timeout=max(0.0, next_flush - time.monotonic()))
                batch = list(self._buffer)
                self._buffer.clear()
                self._buffered_rows = 0
                self._flush_now = False
                closing = self._closed
            next_flush = time.monotonic() + self.flush_seconds
            if batch:
                try:
                    self._write(batch)  # accounts for every row itself
                except Exception as exc:  # never let the writer die
                    self._warn(f"writer error ({type(exc).__name__}: {exc})")
            self._stats_line()
            if closing:
                with self._cond:
                    if not self._buffer:
                        self._cond.notify_all()
                        return

    def _write(self, batch: list[_Request]) -> None:
        """Append the batch (one retry), accounting for every row as written or dropped.

        Its first row carries (``COL_DROPPED``) the records dropped since the previous batch
        reached the log, so a window read from the log knows what it is missing.
        """
        import numpy as np

        try:
            frame, failed = self._frame(batch)
        except Exception as exc:
            self._lost(sum(r.rows for r in batch), f"rows not built ({type(exc).__name__}: {exc})")
            return
        for rows, why in failed:
            self._lost(rows, why)
        if frame is None:
            return
        rows = len(frame)
        with self._cond:
            unreported = self._dropped - self._reported
        dropped = np.zeros(rows, dtype=np.int64)
        dropped[0] = unreported
        frame[COL_DROPPED] = dropped
        error: Exception | None = None
        for attempt in range(2):
            try:
                if self._log is None:
                    self._log = open_log(self._log_uri)
                self._log.append(frame)
            except Exception as exc:
                error = exc
                if attempt == 0:
                    time.sleep(RETRY_PAUSE_SECONDS)
                continue
            with self._cond:
                self._pending -= rows
                self._written += rows
                self._reported += unreported
            return
        self._lost(
            rows, f"append to {self._log_uri} failed twice ({type(error).__name__}: {error})"
        )

    def _frame(self, batch: list[_Request]) -> tuple[pd.DataFrame | None, list[tuple[int, str]]]:
        """The batch's rows as one frame, built column by column (few pandas calls per batch:
        the writer shares the GIL with the request threads)."""
        import numpy as np
        import pandas as pd

        good: list[tuple[_Request, dict[str, Any]]] = []
        failed: list[tuple[int, str]] = []
        for request in batch:
            try:
                outputs = _output_columns(request.outputs, request.rows)
            except Exception as exc:
                failed.append((request.rows, f"outputs not stored ({type(exc).__name__}: {exc})"))
                continue
            taken = {*META, *request.inputs}
            good.append(
                (
                    request,
                    {
                        **{k: v for k, v in request.inputs.items() if k not in META},
                        **{f"{k}_output" if k in taken else k: v for k, v in outputs.items()},
                    },
                )
            )
        if not good:
            return None, failed
        counts = np.array([r.rows for r, _ in good])
        columns: dict[str, Any] = {
            COL_REQUEST: np.repeat(np.array([r.request_id for r, _ in good], dtype=object), counts),
            COL_MODEL: np.full(int(counts.sum()), self.model, dtype=object),
            COL_VERSION: np.full(int(counts.sum()), self.version, dtype=object),
            COL_TIME: pd.DatetimeIndex(
                np.repeat(
                    np.array([r.time.replace(tzinfo=None) for r, _ in good], "M8[us]"), counts
                )
            ).tz_localize("UTC"),
        }
        names = list(dict.fromkeys(name for _, values in good for name in values))
        for name in names:
            pieces = [values.get(name) for _, values in good]
            columns[name] = _concat(pieces, [r.rows for r, _ in good])
        for name in self.hash_ids:
            if name in columns:
                columns[name] = np.array(
                    [None if _is_null(v) else hash_value(v, self._salt) for v in columns[name]],
                    dtype=object,
                )
        return pd.DataFrame(columns), failed

    def _lost(self, rows: int, why: str) -> None:
        with self._cond:
            self._pending -= rows
            self._dropped += rows
        self._warn(f"{rows} captured rows dropped: {why}")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning(
                "prediction capture %s/%s: %s (%s; this warning at most once a minute)",
                self.model,
                self.version,
                message,
                _format(self.stats()),
            )

    def _stats_line(self) -> None:
        now = time.monotonic()
        if now - self._last_stats_line < self.stats_seconds:
            return
        self._last_stats_line = now
        stats = self.stats()
        if stats != self._last_stats:
            self._last_stats = stats
            logger.info("prediction capture %s/%s: %s", self.model, self.version, _format(stats))

    # --- counts and shutdown ----------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Rows ``recorded``, ``written``, ``dropped`` and ``queued`` (buffered or in flight)."""
        with self._cond:
            return {
                "recorded": self._recorded,
                "written": self._written,
                "dropped": self._dropped,
                "queued": self._pending,
            }

    def flush(self, timeout: float = 10.0) -> bool:
        """Have the writer write what is buffered now; True once nothing is queued (False on
        timeout)."""
        self._check_fork()
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._buffer:
                self._flush_now = True
                self._ensure_thread()
                self._cond.notify_all()
        while True:
            with self._cond:
                if self._pending == 0:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def close(self, timeout: float = 10.0) -> dict[str, int]:
        """Write what is queued (waiting at most ``timeout`` seconds), stop; the final counts."""
        self._check_fork()
        with self._cond:
            already, self._closed = self._closed, True
            thread = self._thread
            if self._buffer and (thread is None or not thread.is_alive()):
                self._ensure_thread()
                thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        atexit.unregister(self._at_exit)
        stats = self.stats()
        last, self._last_close = self._last_close, stats
        if (stats["dropped"] or stats["queued"]) and not (already and last == stats):
            logger.warning(
                "prediction capture %s/%s closed: %s", self.model, self.version, _format(stats)
            )
        return stats

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.close(timeout=10.0)

    def __repr__(self) -> str:
        return f"Recorder({self._log_uri!r}, model={self.model!r}, version={self.version!r})"


_FORK_LOCK = threading.Lock()


def _format(stats: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in stats.items())


def hash_value(value: Any, salt: str = "") -> str:
    """The hex ``sha256(salt + str(value))`` that replaces an id; an integral float hashes as
    the integer (``1.0`` as ``1``: an id column with nulls is read as floats)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return hashlib.sha256((salt + str(value)).encode("utf-8")).hexdigest()


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT, pd.NA
    except Exception:
        return False


def _as_frame(inputs: Any) -> pd.DataFrame:
    """The inputs as a DataFrame (a pyfunc model may also get a dict, an array, a list)."""
    import pandas as pd

    return inputs if isinstance(inputs, pd.DataFrame) else pd.DataFrame(inputs)


def _copy_outputs(outputs: Any) -> Any:
    """A copy the caller cannot change afterwards (cheap: outputs are small)."""
    copy = getattr(outputs, "copy", None)
    if callable(copy) and not isinstance(outputs, (list, dict)):
        return copy()
    if isinstance(outputs, list):
        return list(outputs)
    if isinstance(outputs, dict):
        return dict(outputs)
    return outputs


def _output_columns(outputs: Any, rows: int) -> dict[str, Any]:
    """The output columns of one request (see the module docstring for the names)."""
    import numpy as np
    import pandas as pd

    columns: dict[str, Any]
    if isinstance(outputs, pd.DataFrame) and all(isinstance(c, str) for c in outputs.columns):
        columns = {str(c): outputs.iloc[:, i].array for i, c in enumerate(outputs.columns)}
    elif isinstance(outputs, pd.Series):
        columns = {"prediction": outputs.array}
    elif isinstance(outputs, dict) or (
        isinstance(outputs, list) and outputs and all(isinstance(o, dict) for o in outputs)
    ):
        frame = pd.DataFrame(outputs)
        columns = {str(c): frame.iloc[:, i].array for i, c in enumerate(frame.columns)}
    else:
        values = outputs.to_numpy() if isinstance(outputs, pd.DataFrame) else np.asarray(outputs)
        if values.ndim == 0:
            values = values.reshape(1)
        if values.ndim == 1:
            columns = {"prediction": values}
        elif values.ndim == 2 and values.shape[1] == 1:
            columns = {"prediction": values[:, 0]}
        elif values.ndim == 2 and values.shape[1] == 2:
            columns = {"score": values[:, 1]}
        elif values.ndim == 2:
            columns = {f"score_{i}": values[:, i] for i in range(values.shape[1])}
        else:
            raise ValueError(f"outputs of shape {values.shape} have no column form")
    for name, values in columns.items():
        if len(values) != rows:
            raise ValueError(f"{len(values)} values of {name!r} for {rows} input rows")
    return columns


def _concat(pieces: list[Any], rows: list[int]) -> Any:
    """One column from per-request pieces (``None``: the request lacks it, null there)."""
    import numpy as np
    import pandas as pd

    arrays = [p.to_numpy() if isinstance(p, pd.arrays.NumpyExtensionArray) else p for p in pieces]
    if all(isinstance(a, np.ndarray) for a in arrays):
        return np.concatenate(arrays)
    series = [
        pd.Series(np.full(n, np.nan)) if a is None else pd.Series(a)
        for a, n in zip(arrays, rows, strict=True)
    ]
    if all(isinstance(a, np.ndarray) or a is None for a in arrays):
        return np.concatenate([s.to_numpy() for s in series])
    return pd.concat(series, ignore_index=True).array

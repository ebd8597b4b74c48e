"""The prediction log: what a served model predicted (and, later, the labels), by model version.

One interface (``PredictionLog``), two stores chosen by URI (``open_log``):

- a path or ``file://`` URI: the embedded store (``parquet_store``): partitioned parquet on local
  disk, atomic appends from several processes, small files compacted, read with pyarrow;
- ``postgresql://...``: PostgreSQL (``postgres_store``), for teams.

Records are DataFrames. Every prediction row carries the ``META`` columns (request id, model,
version, UTC time) and then the model's own input and output columns, flat, under their own
names (``customer_id``, ``tenure_months``, ``prediction``, ``churn_score``...): a window read from
the log has the columns a ``monitor.yaml`` names. Labels are (``id``, ``label``, optional
``event_time``) rows per model; ``verdicts.label_join`` joins them to predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from mlflow_monitor.contract import CAPTURE_DROPPED_COLUMN

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COL_DROPPED",
    "COL_MODEL",
    "COL_REQUEST",
    "COL_TIME",
    "COL_VERSION",
    "LABEL_COLUMNS",
    "META",
    "LogStats",
    "PredictionLog",
    "open_log",
]

COL_REQUEST = "mm_request_id"  # one id per request (a batch request shares it)
COL_MODEL = "mm_model"
COL_VERSION = "mm_version"
COL_TIME = "mm_time"  # when the prediction was made: UTC, microseconds
COL_DROPPED = CAPTURE_DROPPED_COLUMN  # optional: records a capture dropped before this batch
META = (COL_REQUEST, COL_MODEL, COL_VERSION, COL_TIME)
LABEL_COLUMNS = ("id", "label", "event_time", "added_at")  # event_time may be null


@dataclass(frozen=True)
class LogStats:
    """What a store holds for a model: prediction rows and files/partitions, label rows."""

    predictions: int
    files: int
    labels: int


class PredictionLog(Protocol):
    """A store of predictions and labels; every method is safe from several processes."""

    uri: str

    def append(self, frame: pd.DataFrame) -> int:
        """Store prediction rows (``META`` columns first, then the model's columns); their count.

        Atomic: a reader sees all of the rows or none of them.
        """
        ...

    def read(
        self,
        *,
        model: str,
        version: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Predictions of ``model`` (one version, or all) made in ``[start, end)``, with META."""
        ...

    def add_labels(self, *, model: str, labels: pd.DataFrame) -> int:
        """Store label rows (``id``, ``label``, optional ``event_time``); ``added_at`` is now."""
        ...

    def labels(self, *, model: str) -> pd.DataFrame:
        """Every label row of ``model`` (``LABEL_COLUMNS``), in the order they were added."""
        ...

    def compact(self, *, model: str | None = None) -> int:
        """Merge small files/partitions (embedded store); the number of files merged away."""
        ...

    def apply_retention(self, *, before: datetime) -> int:
        """Drop predictions made before ``before``; the number of rows dropped."""
        ...

    def stats(self, *, model: str) -> LogStats: ...


def open_log(uri: str) -> PredictionLog:
    """The store a URI names: ``postgresql://...`` or a path / ``file://`` URI (embedded)."""
    if uri.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
        from mlflow_monitor.adapters.prediction_log.postgres_store import PostgresLog

        return PostgresLog(uri)
    from mlflow_monitor.adapters.prediction_log.parquet_store import ParquetLog

    return ParquetLog(uri)

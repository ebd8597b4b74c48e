"""The Spark engine: a baseline and a window's statistics from a Spark DataFrame or table.

Only profiles and counts reach the driver. Every partition is read once by ``mapInPandas`` and
turned, with the same pure code as the pandas path, into a *partial*: the ``DatasetProfile`` of
its rows (on the baseline's edges for a window; with its value sketch for a reference, so the
merged edges are those of all the rows at once, ``stats.sketch``), the quality counts of each
column, for a binary classifier its ``BinaryCounts`` (confusion cells, score histograms on
fixed bins, loss sums), with ``columns.protected`` its ``FairnessCounts`` (six cells per group
of every attribute and intersection, keyed by the group's text) and ``DecisionCounts``, and with
``columns.segments`` one ``SegmentCounts`` per segment value (rows, ``BinaryCounts`` and, for a
baseline segment, the features profiled on its edges). The partials are pickled, compressed,
merged on the executors in a tree and the result sent to the driver: driver memory is bounded
by the size of one partial, whatever the rows. What needs the whole window at once is asked of
Spark as an aggregate (duplicated rows and ids, the most frequent unseen categories, whether an
id-like candidate's values are all distinct). The judging is the pandas path's (``verdicts``):
``judge_fairness`` and ``stats.segments.judge_segments`` take the merged counts, so bias drift,
policy rules, segment ranking and outcomes are the same code.

Equal to the pandas path on the same rows (tests/adapters/sources/test_spark.py): every count
(rows, missing, bins, categories, confusion counts, duplicates, every fairness group's cells,
every segment's rows and labelled rows) exactly, so fairness rates, disparities and their
intervals too; drift (also a segment's share of drifted features) to float rounding of the
bins' value sums; log loss and Brier to 1e-9 relative; ROC AUC (the window's and each
segment's) within half the share of positive-negative pairs that share one of the 65,536 score
bins (``BinaryCounts.auc_tolerance``, 1e-5 to 1e-4 on smooth scores; measured |delta| < 1e-6 on
the window, < 2e-5 on segments of 300 to 1,200 rows), PR AUC measured |delta| < 1e-4. The
agreement of score and prediction decisions (``fairness_checks.check_decision_agreement``) is
counted on every row of the window, where pandas reads at most ``AGREEMENT_ROWS`` evenly spread
rows (the same share below that size). The baseline's performance, segments and fairness are
computed on the whole reference when it has at most ``sampling.baseline_rows`` rows, else on a
seeded Spark sample of that size (the pandas chunked path's rule; Spark's sample is not the
same rows). Each segment value carries its score histograms (about 1 MB per value and
partition before compression): segment columns are meant to have few values.

Not supported by the Spark engine, each refused with one line before any work: multiclass and
regression performance, estimation without labels (CBPE/DLE: set ``estimation.enabled:
false``), scoring by the monitor (outputs must be in the data) and shadow comparison
(``--compare``). Ties among the examples of unseen categories and repeated ids may be listed in
another order than pandas lists them.

pyspark is imported here only, and only when a Spark engine is asked for (the package and the
pandas path never start a JVM). Delta tables are read through the ``deltalake`` package (their
current files as parquet; Spark's Delta jars come from a repository this machine cannot reach).
"""

from __future__ import annotations

import os
import pickle
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlflow_monitor.contract import CAPTURE_DROPPED_COLUMN, MetricValue, health, utc_text
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import MonitorSpec
from mlflow_monitor.stats.performance import BinaryCounts, PerformanceResult
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.stats.quality import (
    ID_LIKE_MIN_VALUES,
    ColumnQuality,
    DuplicateCount,
    QualityReport,
    compute_quality,
)
from mlflow_monitor.stats.segments import SegmentCounts, merge_segment_counts, segment_counts
from mlflow_monitor.verdicts.profiled_columns import profile_columns

if TYPE_CHECKING:  # the rest of verdicts is imported by the driver-side functions only, so
    # the Python workers that run the partitions import no more than the statistics
    from pyspark.sql import Column, DataFrame, SparkSession

    from mlflow_monitor.stats.fairness import FairnessCounts
    from mlflow_monitor.verdicts.baseline_model import Baseline
    from mlflow_monitor.verdicts.evaluation import History, WindowResult
    from mlflow_monitor.verdicts.fairness_checks import DecisionCounts

__all__ = [
    "ENGINE_VARIABLE",
    "UNSUPPORTED",
    "baseline_from_spark",
    "check_supported",
    "engine_of",
    "evaluate_spark_window",
    "is_spark_frame",
    "load_spark_window",
    "profile_spark",
    "read_spark_source",
    "spark_session",
    "stage_spark_source",
]

ENGINE_VARIABLE = "MLFLOW_MONITOR_ENGINE"  # set by the CLI's --engine for the run's notebooks
CHUNK_ROWS = 250_000  # rows of one partition profiled at once (Arrow batches are concatenated)
_SEQUENCE_SPAN = 2  # stats.quality: a numerical id spans at most this many integers per value
_EXAMPLES = 10  # stats.quality: examples of unseen values and repeated ids
UNSUPPORTED = (
    "the Spark engine supports binary classification with drift, quality, performance, "
    "segments and fairness; not {what}"
)


def is_spark_frame(value: object) -> bool:
    """A pyspark DataFrame (classic or Connect), told without importing pyspark."""
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.startswith("pyspark.")


def spark_session(master: str = "local[2]") -> SparkSession:
    """The active Spark session, else a local one (UI off, 4 shuffle partitions, UTC).

    Its Python workers run this interpreter (``PYSPARK_PYTHON`` unless set), so they import
    the same mlflow_monitor, pandas and numpy as the driver.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName("mlflow-monitor")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "50000")
        # pandas writes nanosecond timestamps, which Spark reads only as longs (of nanoseconds)
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        .getOrCreate()
    )


def read_spark_source(session: SparkSession, source: str) -> DataFrame:
    """A table name, a parquet file or folder, or a Delta table folder (``deltalake`` package)."""
    path = Path(source)
    if source.startswith("delta:") or (path / "_delta_log").is_dir():
        return session.read.parquet(*_delta_files(source.removeprefix("delta:")))
    if path.exists():
        return session.read.parquet(str(path))
    if "/" in source or source.endswith(".parquet"):
        raise DataError(f"{source}: no such parquet file or folder")
    if not session.catalog.tableExists(source):
        raise DataError(f"{source}: no such table in the Spark catalog (nor a file)")
    return session.table(source)


def _delta_files(location: str) -> list[str]:
    try:
        from deltalake import DeltaTable
    except ImportError:
        raise DataError(
            f"{location}: a Delta table needs the deltalake package (pip install deltalake)"
        ) from None
    files = DeltaTable(location).file_uris()
    if not files:
        raise DataError(f"{location}: the Delta table has no data files")
    return list(files)


# -- what the engine supports --------------------------------------------------------------------


def check_supported(spec: MonitorSpec, *, window: bool) -> None:
    """Refuse, in one line, what the Spark engine does not compute (see the module docstring)."""
    cols = spec.columns
    if spec.task != "binary_classification" and cols.target:
        raise SpecError(UNSUPPORTED.format(what=f"task: {spec.task} performance"))
    if window and spec.estimation.enabled:
        raise SpecError(
            UNSUPPORTED.format(what="estimation (CBPE/DLE): set estimation.enabled: false")
        )


def _check_columns(spec: MonitorSpec, frame: DataFrame, *, what: str) -> list[str]:
    """The columns a monitor reads, after checking the required ones are there."""
    present = set(frame.columns)
    for name in spec.columns.required():
        if name not in present:
            raise DataError(f"{what}: column {name!r} is missing from the data")
    names = [n for n in spec.columns.required() if n in present]
    if spec.columns.target and spec.columns.target in present:
        names.append(spec.columns.target)
    if CAPTURE_DROPPED_COLUMN in present:
        names.append(CAPTURE_DROPPED_COLUMN)
    return list(dict.fromkeys(names))


# -- partitions -> partials -> driver ------------------------------------------------------------


def _partition_chunks(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The partition's Arrow batches concatenated to chunks of about ``CHUNK_ROWS`` rows."""
    pending: list[pd.DataFrame] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += len(batch)
        if rows >= CHUNK_ROWS:
            yield pd.concat(pending, ignore_index=True)
            pending, rows = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)


def _collect_merged(frame: DataFrame, partial: object) -> object | None:
    """Run ``partial`` (chunk -> mergeable object with ``merge``) on every partition, merge.

    The partitions' partials are merged on the executors in a tree (``treeReduce``), so the
    driver receives one partial per branch, never the rows. A Python error in a partition that
    is one of ours (``DataError``/``SpecError``) is raised again here as that one line.
    """
    from pyspark.errors import PySparkException

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        merged = None
        for chunk in _partition_chunks(batches):
            part = partial(chunk)  # type: ignore[operator]
            merged = part if merged is None else merged.merge(part)
        if merged is not None:
            yield pd.DataFrame({"partial": [_pack(merged)]})

    partials = frame.mapInPandas(per_partition, "partial binary").rdd.map(lambda row: row[0])
    try:
        merged = partials.treeReduce(_merge_pickled, depth=2)
    except ValueError:  # an empty RDD: no rows at all
        return None
    except PySparkException as exc:
        raise _our_error(exc) from None
    return _unpack(merged)


def _merge_pickled(left: bytes, right: bytes) -> bytes:
    return _pack(_unpack(left).merge(_unpack(right)))  # type: ignore[attr-defined]


def _pack(partial: object) -> bytes:
    """A partial pickled and compressed: score histograms are 65,536 bins, mostly empty (a
    512 kB array per label: 6 kB compressed for 1,000 scores, 60 kB for 200,000)."""
    return zlib.compress(pickle.dumps(partial, protocol=5), 1)


def _unpack(packed: bytes) -> object:
    result: object = pickle.loads(zlib.decompress(packed))  # our own executors' objects
    return result


def _our_error(exc: Exception) -> Exception:
    """A partition's ``DataError: ...`` or ``SpecError: ...`` line, else the Spark error."""
    for line in reversed(str(exc).splitlines()):
        for kind in (DataError, SpecError):
            marker = f"{kind.__name__}: "
            if marker in line:
                return kind(line.split(marker, 1)[1].strip())
    return exc


def profile_spark(
    frame: DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    bins: int = 100,
    max_categories: int = 1000,
    reference: DatasetProfile | None = None,
) -> DatasetProfile:
    """``DatasetProfile.from_frame`` of a Spark DataFrame, profiled per partition and merged."""
    columns = list(dict.fromkeys([*numerical, *categorical]))
    for name in columns:
        if name not in frame.columns:
            raise DataError(f"column {name!r} is missing from the data")
    numerical, categorical = list(numerical), list(categorical)

    def partial(chunk: pd.DataFrame) -> DatasetProfile:
        return DatasetProfile.from_frame(
            chunk,
            numerical=numerical,
            categorical=categorical,
            bins=bins,
            max_categories=max_categories,
            reference=reference,
        )

    merged = _collect_merged(frame.select(*columns), partial)
    if merged is None:  # no rows at all
        return partial(pd.DataFrame({name: pd.Series([], dtype=float) for name in columns}))
    assert isinstance(merged, DatasetProfile)
    return merged


# -- baseline ------------------------------------------------------------------------------------


def baseline_from_spark(spec: MonitorSpec, frame: DataFrame) -> Baseline:
    """The baseline of a Spark reference: profile from all partitions, the rest whole or sampled."""
    from mlflow_monitor.verdicts.baseline_model import build_baseline_from_profile

    check_supported(spec, window=False)
    names = _check_columns(spec, frame, what="reference")
    reference = frame.select(*names)
    numerical, categorical = profile_columns(spec, names)
    profile = profile_spark(
        reference, numerical=numerical, categorical=categorical, bins=spec.drift.bins
    )
    rows = profile.rows
    if rows == 0:
        raise DataError("reference: the reference is empty (0 rows)")
    limit = spec.sampling.baseline_rows
    if rows <= limit:
        local = reference.toPandas()
    else:
        fraction = min(1.0, 1.2 * limit / rows)
        local = reference.sample(fraction=fraction, seed=spec.sampling.seed).limit(limit).toPandas()
    return build_baseline_from_profile(spec, profile, local, rows=rows)


# -- window --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _IdHint:
    """What a partition says about a column being id-like (all values distinct)."""

    count: int
    distinct: bool
    integral: bool = True
    low: float = np.inf
    high: float = -np.inf

    def merge(self, other: _IdHint) -> _IdHint:
        return _IdHint(
            self.count + other.count,
            self.distinct and other.distinct,
            self.integral and other.integral,
            min(self.low, other.low),
            max(self.high, other.high),
        )

    @classmethod
    def of(cls, series: pd.Series, *, numerical: bool) -> _IdHint:
        if numerical:
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                return cls(0, True)
            return cls(
                int(finite.size),
                not bool(pd.Series(finite).duplicated().any()),
                bool(np.all(finite == np.floor(finite))),
                float(finite.min()),
                float(finite.max()),
            )
        keyed = series.dropna().map(str).value_counts()
        return cls(int(keyed.sum()), bool(keyed.empty or int(keyed.max()) == 1))


@dataclass(frozen=True)
class _WindowPartial:
    """One partition's window statistics; ``merge`` is their union's (counts add)."""

    rows: int
    profile: DatasetProfile
    quality: tuple[ColumnQuality, ...]
    hints: dict[str, _IdHint]
    performance: BinaryCounts | None
    stamps: tuple[pd.Timestamp, pd.Timestamp] | None
    dropped: float
    dtypes: dict[str, str] = field(default_factory=dict)
    fairness: tuple[FairnessCounts, DecisionCounts] | None = None
    segments: dict[tuple[str, str], SegmentCounts] | None = None

    def merge(self, other: _WindowPartial) -> _WindowPartial:
        stamps = [s for s in (self.stamps, other.stamps) if s is not None]
        fairness = None
        if self.fairness is not None and other.fairness is not None:
            fairness = (
                self.fairness[0].merge(other.fairness[0]),
                self.fairness[1].merge(other.fairness[1]),
            )
        segments = None
        if self.segments is not None and other.segments is not None:
            segments = merge_segment_counts(self.segments, other.segments)
        return _WindowPartial(
            self.rows + other.rows,
            self.profile.merge(other.profile),
            tuple(_merge_quality(a, b) for a, b in zip(self.quality, other.quality, strict=True)),
            {name: hint.merge(other.hints[name]) for name, hint in self.hints.items()},
            None
            if self.performance is None or other.performance is None
            else self.performance.merge(other.performance),
            (min(s[0] for s in stamps), max(s[1] for s in stamps)) if stamps else None,
            self.dropped + other.dropped,
            fairness=fairness,
            segments=segments,
        )


def _merge_quality(a: ColumnQuality, b: ColumnQuality) -> ColumnQuality:
    def add(x: int | None, y: int | None) -> int | None:
        return None if x is None or y is None else x + y

    dtype = a.dtype if a.dtype == b.dtype else _wider(a.dtype, b.dtype)
    return replace(
        a,
        dtype=dtype,
        dtype_ok=a.dtype_ok and b.dtype_ok,
        rows=a.rows + b.rows,
        missing=a.missing + b.missing,
        non_numeric=a.non_numeric + b.non_numeric,
        infinite=a.infinite + b.infinite,
        out_of_range=add(a.out_of_range, b.out_of_range),
        unseen=add(a.unseen, b.unseen),
    )


def _wider(left: str, right: str) -> str:
    """The dtype pandas gives the whole column when two partitions' dtypes differ.

    Arrow gives an integer batch with a missing value float64 (``Int64`` only on request) and a
    batch without one int64; the file read whole is float64 as soon as one row is missing.
    """
    if {left, right} <= {"int64", "int32", "float64", "float32"}:
        return "float64"
    return "object"


def _window_partial(
    spec: MonitorSpec, baseline: Baseline, names: list[str]
) -> object:  # a picklable function of one chunk
    reference = baseline.profile
    cols = spec.columns
    segments = baseline.segments if cols.segments else None
    count_fairness = None
    if cols.protected:  # imported here: a worker imports the fairness rules only when asked
        from mlflow_monitor.verdicts.fairness_checks import fairness_counts

        count_fairness = fairness_counts
    numerical, categorical = profile_columns(spec, names)
    known = set(reference.columns)
    numerical = [c for c in numerical if c in known]
    categorical = [c for c in categorical if c in known]
    has_target = bool(cols.target and cols.target in names)
    threshold = spec.fairness.decision_threshold

    def partial(chunk: pd.DataFrame) -> _WindowPartial:
        profile = DatasetProfile.from_frame(
            chunk, numerical=numerical, categorical=categorical, reference=reference
        )
        quality = compute_quality(
            chunk,
            reference,
            numerical=cols.numerical,
            categorical=cols.categorical,
        )
        hints = {c: _IdHint.of(chunk[c], numerical=True) for c in cols.numerical if c in chunk}
        hints |= {c: _IdHint.of(chunk[c], numerical=False) for c in cols.categorical if c in chunk}
        performance = None
        if has_target:
            performance = BinaryCounts.of(
                chunk[cols.target],
                chunk[cols.prediction] if cols.prediction else None,
                y_score=chunk[cols.score] if cols.score else None,
                threshold=threshold,
                target_name=str(cols.target),
                prediction_name=str(cols.prediction or "y_pred"),
                score_name=str(cols.score or "y_score"),
            )
        stamps = None
        if cols.timestamp and cols.timestamp in chunk:
            parsed = pd.to_datetime(chunk[cols.timestamp], utc=True, errors="coerce").dropna()
            stamps = (parsed.min(), parsed.max()) if len(parsed) else None
        dropped = 0.0
        if CAPTURE_DROPPED_COLUMN in chunk:
            dropped = float(pd.to_numeric(chunk[CAPTURE_DROPPED_COLUMN], errors="coerce").sum())
        fairness = None
        if count_fairness is not None:  # every row's agreement: exact once the counts add up
            fairness = count_fairness(spec, chunk, agreement_rows=None)
        return _WindowPartial(
            len(chunk), profile, quality.columns, hints, performance, stamps, dropped,
            fairness=fairness,
            segments=None if segments is None else segment_counts(chunk, segments),
        )  # fmt: skip

    return partial


def evaluate_spark_window(
    spec: MonitorSpec,
    baseline: Baseline,
    frame: DataFrame,
    *,
    model_version: str = "",
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    history: History | None = None,
) -> WindowResult:
    """``verdicts.evaluation.evaluate_window`` of a Spark window (rows in ``[start, end)``)."""
    from mlflow_monitor.verdicts import evaluation as pandas_path
    from mlflow_monitor.verdicts import window_checks as checks
    from mlflow_monitor.verdicts.fairness_checks import judge_fairness
    from mlflow_monitor.verdicts.root_cause import assign_causes

    check_supported(spec, window=True)
    pandas_path.check_against_baseline(spec, baseline)
    names = _check_columns(spec, frame, what="window")
    window = _rows_in(spec, frame.select(*names), window_start, window_end)
    merged = _collect_merged(window, _window_partial(spec, baseline, names))
    if merged is None:
        raise DataError(f"the window is empty (0 rows in {_shown(window_start, window_end)})")
    assert isinstance(merged, _WindowPartial)
    _check_outputs(spec, merged)
    quality = _quality(spec, window, names, merged, baseline.profile)
    drift = pandas_path._feature_drift(
        spec, baseline.profile, merged.profile, skip=pandas_path._id_like(quality)
    )
    prediction_drift = pandas_path._prediction_drift(spec, baseline.profile, merged.profile)
    performance = _performance(spec, merged)
    segments = pandas_path._segments(spec, baseline, merged.segments or {})
    fairness = None
    if merged.fairness is not None:
        counts, decisions = merged.fairness
        fairness = judge_fairness(spec, baseline.fairness, counts, decisions.decision(spec))
    start, end = window_start, window_end
    if merged.stamps is not None:
        start = start or merged.stamps[0].floor("us").to_pydatetime()
        end = end or merged.stamps[1].floor("us").to_pydatetime()
    start, end = pandas_path.window_bounds(spec, pd.DataFrame(), start, end)
    outcomes = [
        *checks.drift_outcomes(drift, spec.drift),
        *(
            checks.drift_outcomes(
                prediction_drift, spec.drift, prefix="drift/prediction", share=False
            )
            if prediction_drift
            else []
        ),
        *checks.performance_outcomes(
            performance,
            baseline.performance,
            pandas_path._performance_checks(spec),
            history=history or {},
            at=end,
            level=spec.confidence_level,
        ),
        *checks.quality_outcomes(quality, spec.quality),
        *pandas_path._segment_outcomes(spec, segments),
        *(fairness.outcomes if fairness else []),
    ]
    outcomes = list(
        assign_causes(
            outcomes, alpha=spec.fairness.drift_alpha, min_effect=spec.fairness.drift_min_effect
        )
    )
    metrics = pandas_path._metrics(
        drift, prediction_drift, performance, quality, segments, fairness
    )
    if spec.columns.target:
        from mlflow_monitor.verdicts.label_join import coverage

        labelled = performance.labelled_rows if performance else 0
        metrics.append(MetricValue("labels/coverage", coverage(labelled, merged.rows)))
    if CAPTURE_DROPPED_COLUMN in names:
        metrics.append(MetricValue("capture/dropped", merged.dropped))
    return pandas_path.WindowResult(
        model=spec.model,
        model_version=model_version,
        window_start=utc_text(start) if start else None,
        window_end=utc_text(end),
        rows=merged.rows,
        health=health(outcomes),
        outcomes=tuple(outcomes),
        metrics=tuple(metrics),
        drift=drift,
        prediction_drift=prediction_drift,
        performance=performance,
        quality=quality,
        segments=segments,
        fairness=fairness,
        notes=(*baseline.notes, _engine_note(spec, window, merged)),
    )


def _engine_note(spec: MonitorSpec, window: DataFrame, merged: _WindowPartial) -> str:
    """Which engine computed the window, and the ROC AUC's bound (the audit record says so)."""
    note = f"statistics computed by the Spark engine ({window.rdd.getNumPartitions()} partitions)"
    if merged.performance is not None and spec.columns.score:
        positive = spec.positive_label if spec.positive_label is not None else 1
        tolerance = merged.performance.auc_tolerance(positive_label=positive)
        note += f"; roc_auc from binned scores, within {tolerance:.1e} of the exact value"
    return note


def _shown(start: datetime | None, end: datetime | None) -> str:
    return f"[{utc_text(start) if start else '-inf'}, {utc_text(end) if end else '+inf'})"


def _rows_in(
    spec: MonitorSpec, frame: DataFrame, start: datetime | None, end: datetime | None
) -> DataFrame:
    """The rows in ``[start, end)`` by ``columns.timestamp`` (the session's time zone is UTC).

    A nanosecond parquet timestamp (pandas' default) reaches Spark as a long of nanoseconds.
    """
    from pyspark.sql import functions as F

    ts = spec.columns.timestamp
    if not (ts and (start or end)):
        return frame
    nanos = frame.schema[ts].dataType.typeName() == "long"
    stamp = F.col(f"`{ts}`") if nanos else F.col(f"`{ts}`").cast("timestamp")

    def bound(moment: datetime) -> Column:
        utc = pd.Timestamp(moment).tz_convert("UTC") if moment.tzinfo else pd.Timestamp(moment)
        return F.lit(int(utc.value) if nanos else utc.tz_localize(None).to_pydatetime())

    if start:
        frame = frame.where(stamp >= bound(start))
    if end:
        frame = frame.where(stamp < bound(end))
    return frame


def _check_outputs(spec: MonitorSpec, merged: _WindowPartial) -> None:
    for role in ("prediction", "score"):
        name = getattr(spec.columns, role)
        column = merged.profile.columns.get(name) if name else None
        if column is not None and column.rows - column.missing == 0:
            raise DataError(
                f"columns.{role} {name!r}: missing in every row of the window "
                f"({merged.rows:,} rows): the model produced no output to judge"
            )


def _performance(spec: MonitorSpec, merged: _WindowPartial) -> PerformanceResult | None:
    cols = spec.columns
    if merged.performance is None:
        return None
    return merged.performance.finish(
        positive_label=spec.positive_label,
        target_name=str(cols.target),
        score_name=str(cols.score or "y_score"),
        has_score=bool(cols.score),
    )


def _quality(
    spec: MonitorSpec,
    window: DataFrame,
    names: list[str],
    merged: _WindowPartial,
    reference: DatasetProfile,
) -> QualityReport:
    """The merged column counts, with what needs the whole window asked of Spark."""
    from pyspark.sql import functions as F

    columns = []
    for column in merged.quality:
        if not column.present:
            columns.append(column)
            continue
        note = column.note
        if column.kind == "numerical":  # a partition's note counts its own non-numbers
            note = _numeric_note(column, reference)
        columns.append(
            replace(
                column,
                note=note,
                id_like=_id_like(window, column, merged.hints.get(column.column), reference),
                unseen_values=_unseen_values(window, column, reference) if column.unseen else (),
            )
        )
    groups = window.groupBy(*_row_key(window, names)).count().where("count > 1")
    found = groups.agg(F.sum(F.col("count") - 1), F.count(F.lit(1))).first()
    duplicates = DuplicateCount(
        None, merged.rows, int(found[0] or 0) if found else 0, int(found[1] or 0) if found else 0
    )
    ids = None
    if spec.columns.id and spec.columns.id in names:
        ids = _duplicate_ids(window, spec.columns.id, merged.rows)
    return QualityReport(merged.rows, tuple(columns), duplicate_rows=duplicates, duplicate_ids=ids)


def _row_key(window: DataFrame, names: list[str]) -> list[Column]:
    """A 96-bit key per row (xxhash64 and murmur3 of every column and its null flag).

    Grouping by all columns shuffled the whole window (23 columns: 10,000,000 rows took most of
    a 28-minute local[2] run); two hashes shuffle 12 bytes a row. Two different rows share a key
    with probability about n^2 / 2^97 (6e-16 at 10,000,000 rows). Floats are normalised first
    (every NaN alike, -0.0 as 0.0) so the key agrees with pandas' ``duplicated``; the null flags
    keep ``(None, 5)`` and ``(5, None)`` apart (Spark's hashes skip nulls).
    """
    from pyspark.sql import functions as F

    values: list[Column] = []
    for name in names:
        column = F.col(f"`{name}`")
        if _is_float(window, name):
            column = (
                F.when(F.isnan(column), F.lit(float("nan")))
                .when(column == 0.0, F.lit(0.0))
                .otherwise(column)
            )
        values += [column, column.isNull()]
    return [F.xxhash64(*values).alias("_k1"), F.hash(*values).alias("_k2")]


def _numeric_note(column: ColumnQuality, reference: DatasetProfile) -> str:
    """``stats.quality``'s note of a numerical column, from the merged counts."""
    from mlflow_monitor.stats.profile import NumericProfile

    ref = reference.columns.get(column.column)
    note = ""
    if not isinstance(ref, NumericProfile):
        note = "not in the reference profile"
    elif ref.count == 0:
        note = "reference has no finite values: range undefined"
    if column.non_numeric:
        extra = f"{column.non_numeric} values are not numbers (dtype {column.dtype})"
        note = f"{note}; {extra}" if note else extra
    return note


def _duplicate_ids(window: DataFrame, name: str, rows: int) -> DuplicateCount:
    from pyspark.sql import functions as F

    column = F.col(f"`{name}`")
    present = window.where(column.isNotNull() & ~F.isnan(column) if _is_float(window, name)
                           else column.isNotNull())  # fmt: skip
    repeated = present.groupBy(column).count().where("count > 1")
    found = repeated.agg(F.sum(F.col("count") - 1), F.count(F.lit(1))).first()
    examples = repeated.orderBy(F.desc("count"), column).limit(_EXAMPLES).collect()
    return DuplicateCount(
        column=name,
        rows=rows,
        duplicates=int(found[0] or 0) if found else 0,
        repeated=int(found[1] or 0) if found else 0,
        missing=rows - present.count(),
        examples=tuple(str(r[0]) for r in examples),
    )


def _is_float(window: DataFrame, name: str) -> bool:
    return window.schema[name].dataType.typeName() in ("double", "float")


def _id_like(
    window: DataFrame, column: ColumnQuality, hint: _IdHint | None, reference: DatasetProfile
) -> str:
    """``stats.quality``'s id-like rule on the whole window (a Spark distinct count to confirm)."""
    from pyspark.sql import functions as F

    found = []
    numerical = column.kind == "numerical"
    if hint is not None and hint.count >= ID_LIKE_MIN_VALUES and hint.distinct:
        span_ok = hint.high - hint.low + 1 <= _SEQUENCE_SPAN * hint.count
        if not numerical or (hint.integral and span_ok):
            value = F.col(f"`{column.column}`")
            present = value.isNotNull() & (~F.isnan(value) if numerical else F.lit(True))
            key = value if numerical else value.cast("string")
            distinct = window.where(present).agg(F.countDistinct(key)).first()
            if distinct is not None and int(distinct[0]) == hint.count:
                found.append(
                    f"all {hint.count:,} values in the window are distinct integers (a sequence)"
                    if numerical
                    else f"all {hint.count:,} values in the window are distinct"
                )
    if not numerical:
        from mlflow_monitor.stats.profile import CategoricalProfile

        ref = reference.columns.get(column.column)
        if isinstance(ref, CategoricalProfile):
            enough = ref.count >= ID_LIKE_MIN_VALUES and ref.counts.size > 0
            if enough and int(ref.counts.max()) == 1:
                found.append(f"all {ref.count:,} values in the reference are distinct")
    return "; ".join(found)


def _unseen_values(
    window: DataFrame, column: ColumnQuality, reference: DatasetProfile
) -> tuple[str, ...]:
    """The most frequent values the reference never had (string form, as ``stats.quality``)."""
    from pyspark.sql import functions as F

    from mlflow_monitor.stats.profile import CategoricalProfile

    ref = reference.columns.get(column.column)
    if not isinstance(ref, CategoricalProfile):
        return ()
    text = F.col(f"`{column.column}`").cast("string")
    new = window.where(text.isNotNull() & ~text.isin(list(ref.categories)))
    top = new.groupBy(text.alias("value")).count().orderBy(F.desc("count"), "value")
    return tuple(str(r["value"]) for r in top.limit(_EXAMPLES).collect())


# -- the notebooks' and the CLI's entry points ---------------------------------------------------


def engine_of(spec: MonitorSpec) -> str:
    """The engine of a window: the CLI's ``--engine`` (its variable), else the spec's key."""
    chosen = os.environ.get(ENGINE_VARIABLE) or spec.engine
    if chosen not in ("pandas", "spark"):
        raise SpecError(f"{ENGINE_VARIABLE}={chosen!r}: the engine is pandas or spark")
    return chosen


@dataclass(frozen=True, eq=False)
class SparkWindow:
    """A window for the Spark engine: the rows in Spark, a bounded sample, the window's bounds."""

    frame: DataFrame
    sample: pd.DataFrame
    start: datetime | None
    end: datetime | None


def load_spark_window(
    spec: MonitorSpec, source: str, start: datetime | None, end: datetime | None
) -> SparkWindow:
    """The window's rows in ``[start, end)`` as a Spark DataFrame, with a seeded sample of at
    most ``sampling.report_rows`` rows (the reports and plots draw from it) and, when not given,
    the bounds read from the timestamp column of all its rows."""
    from pyspark.sql import functions as F

    check_supported(spec, window=True)
    frame = read_spark_source(spark_session(), source)
    names = _check_columns(spec, frame, what=Path(source).name or source)
    window = _rows_in(spec, frame.select(*names), start, end)
    ts = spec.columns.timestamp
    aggregates = [F.count(F.lit(1))]
    if ts:
        typed = window.schema[ts].dataType.typeName()
        value = F.col(f"`{ts}`")
        micros = value / 1000 if typed == "long" else F.unix_micros(value.cast("timestamp"))
        aggregates += [F.min(micros), F.max(micros)]
    found = window.agg(*aggregates).first()
    count = int(found[0]) if found else 0
    if count == 0:
        raise DataError(f"{source}: the window is empty (0 rows in {_shown(start, end)})")
    if ts and found is not None and found[1] is not None:
        start = start or pd.Timestamp(int(found[1]), unit="us", tz="UTC").to_pydatetime()
        end = end or pd.Timestamp(int(found[2]), unit="us", tz="UTC").to_pydatetime()
    rows = spec.sampling.report_rows
    fraction = min(1.0, 1.5 * rows / count)
    sample = window.sample(fraction=fraction, seed=spec.sampling.seed).limit(rows).toPandas()
    return SparkWindow(window, sample, start, end)


def stage_spark_source(source: str, folder: Path) -> Path:
    """A table name or Delta folder written as parquet by Spark into ``folder`` (distributed)."""
    frame = read_spark_source(spark_session(), source)
    target = folder / "staged.parquet"
    frame.write.mode("overwrite").parquet(str(target))
    return target

"""Time and peak memory of the statistics core against Evidently 0.7, in one process.

    .venv/bin/python benchmarks/bench_stats.py --rows 1000000
    .venv/bin/python benchmarks/bench_stats.py --rows 1000000 --current-rows 10000000 --chunked

Default mode: a reference and a current frame of ``--rows`` rows (15 numerical + 5 categorical
features, target, score, prediction; benchmarks/_data.py), then

1. the reference profile (``DatasetProfile.from_frame``),
2. the window's statistics: current profile against it + ``compute_drift`` +
   ``compute_performance`` + ``compute_quality``,
3. Evidently's ``Report([DataDriftPreset(), ClassificationPreset()])`` on the same frames,

and the ratio 3 / 2. Chunked mode writes the current window to a parquet file (row groups of
``--chunk-rows``) and profiles growing prefixes of it with ``DatasetProfile.from_chunks``, to
show time linear in rows and memory bounded by the chunk size.

Memory, two measures: a thread samples the process RSS with psutil every 5 ms (peak RSS of the
whole process during the stage, frames included; ``RSS +`` is that peak minus the RSS at the
stage's start, which under-reads when the allocator reuses freed pages), and for our stages
tracemalloc's peak of the stage's own allocations (numpy reports to tracemalloc). Evidently runs
without tracemalloc, which would slow its Python-heavy code. Frame sizes are pandas
``memory_usage(deep=True)`` (which counts each row's string object in full).
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import CATEGORICAL, NUMERICAL, iter_frames, make_frames

from mlflow_monitor.stats.drift import compute_drift
from mlflow_monitor.stats.performance import compute_performance
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.stats.quality import compute_quality

T = TypeVar("T")
NUM = [*NUMERICAL, "score"]
CAT = [*CATEGORICAL, "target", "prediction"]
MB = 1024 * 1024


@dataclass(frozen=True)
class Measure:
    seconds: float
    peak_mb: float  # highest RSS during the stage minus RSS at its start
    rss_mb: float  # highest absolute RSS during the stage
    allocated_mb: float  # tracemalloc peak of the stage's allocations (numpy included); nan: off


class _RssSampler:
    """Samples this process's RSS in a background thread."""

    def __init__(self, interval: float = 0.005) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._process.memory_info().rss)
            time.sleep(self._interval)

    def __enter__(self) -> _RssSampler:
        self._peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)

    @property
    def peak(self) -> int:
        return self._peak


def measure(function: Callable[[], T], *, trace: bool = True) -> tuple[T, Measure]:
    """Run ``function`` once: seconds, peak RSS, and (``trace``) tracemalloc's allocation peak."""
    gc.collect()
    start_rss = psutil.Process().memory_info().rss
    if trace:
        tracemalloc.start()
    with _RssSampler() as sampler:
        started = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - started
    allocated = tracemalloc.get_traced_memory()[1] / MB if trace else float("nan")
    tracemalloc.stop()
    return result, Measure(seconds, (sampler.peak - start_rss) / MB, sampler.peak / MB, allocated)


# --- the stages -------------------------------------------------------------------------------


def reference_profile(reference: pd.DataFrame) -> DatasetProfile:
    return DatasetProfile.from_frame(reference, numerical=NUM, categorical=CAT)


def window_statistics(current: pd.DataFrame, reference: DatasetProfile) -> dict[str, float]:
    """Everything a monitoring run computes for a window; returns per-part seconds."""
    parts: dict[str, float] = {}
    started = time.perf_counter()
    profile = DatasetProfile.from_frame(
        current, numerical=NUM, categorical=CAT, reference=reference
    )
    parts["profile"] = time.perf_counter() - started
    started = time.perf_counter()
    drift = compute_drift(reference, profile)
    parts["drift"] = time.perf_counter() - started
    started = time.perf_counter()
    performance = compute_performance(
        "binary_classification",
        current["target"],
        current["prediction"],
        y_score=current["score"],
        positive_label=1,
    )
    parts["performance"] = time.perf_counter() - started
    started = time.perf_counter()
    quality = compute_quality(current, reference, numerical=NUM, categorical=CAT)
    parts["quality"] = time.perf_counter() - started
    parts["share_drifted"] = drift.share_drifted
    parts["roc_auc"] = performance.metrics.get("roc_auc", float("nan"))
    parts["quality_columns"] = len(quality.columns)
    return parts


def evidently_presets(reference: pd.DataFrame, current: pd.DataFrame) -> object:
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[*NUMERICAL, "score"],
        categorical_columns=[*CATEGORICAL, "target", "prediction"],
        classification=[
            BinaryClassification(
                target="target", prediction_labels="prediction", prediction_probas="score"
            )
        ],
    )
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    report = Report([DataDriftPreset(), ClassificationPreset()])
    return report.run(current_data=cur, reference_data=ref)


# --- modes ------------------------------------------------------------------------------------


def run_in_memory(rows: int, skip_evidently: bool) -> None:
    reference, current = make_frames(rows, rows, seed=0, drift=0.2)
    frames_mb = (
        reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
    ) / MB
    ref_profile, build = measure(lambda: reference_profile(reference))
    parts, window = measure(lambda: window_statistics(current, ref_profile))
    print(f"rows: {rows:,} reference + {rows:,} current; 20 features + target, score, prediction")
    print(f"two frames in memory (pandas deep): {frames_mb:,.0f} MB")
    _row("reference profile", build)
    _row("window: profile + drift + performance + quality", window)
    print(
        "  parts (s): "
        + ", ".join(f"{k} {parts[k]:.2f}" for k in ("profile", "drift", "performance", "quality"))
    )
    print(f"  share drifted {parts['share_drifted']:.2f}, roc_auc {parts['roc_auc']:.4f}")
    print(f"  window: peak RSS / frames size {window.rss_mb / frames_mb:.2f}x")
    if skip_evidently:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, evidently = measure(lambda: evidently_presets(reference, current), trace=False)
    _row("evidently DataDriftPreset + ClassificationPreset", evidently)
    print(f"ratio evidently / window statistics: {evidently.seconds / window.seconds:.1f}x faster")
    print(f"  evidently: peak RSS / frames size {evidently.rss_mb / frames_mb:.2f}x")


def run_chunked(reference_rows: int, current_rows: int, chunk_rows: int) -> None:
    reference, _ = make_frames(reference_rows, 0, seed=0)
    ref_profile = reference_profile(reference)
    del reference
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "current.parquet"
        _write_parquet(path, iter_frames(current_rows, chunk_rows, seed=1, drift=0.2))
        print(f"current window: {current_rows:,} rows in row groups of {chunk_rows:,} ({path})")
        sizes = sorted({current_rows // 10, current_rows // 4, current_rows // 2, current_rows})
        for size in sizes:
            groups = max(1, size // chunk_rows)
            profile, stage = measure(lambda g=groups: _profile_row_groups(path, g, ref_profile))
            drift = compute_drift(ref_profile, profile)
            rate = stage.seconds / profile.rows * 1e6
            print(
                f"{profile.rows:>12,} rows  {stage.seconds:7.2f} s  {rate:5.2f} s per 1M rows  "
                f"peak RSS {stage.rss_mb:6.0f} MB  allocated {stage.allocated_mb:6.0f} MB  "
                f"share drifted {drift.share_drifted:.2f}"
            )


def _write_parquet(path: Path, chunks: Iterator[pd.DataFrame]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    for chunk in chunks:
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=len(chunk))
    if writer is not None:
        writer.close()


def _profile_row_groups(path: Path, groups: int, reference: DatasetProfile) -> DatasetProfile:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path, read_dictionary=CATEGORICAL)  # strings stay dictionary-coded
    frames = (file.read_row_group(i).to_pandas() for i in range(groups))
    return DatasetProfile.from_chunks(frames, numerical=NUM, categorical=CAT, reference=reference)


def _row(label: str, m: Measure) -> None:
    allocated = "" if m.allocated_mb != m.allocated_mb else f"   allocated {m.allocated_mb:6.0f} MB"
    print(
        f"{label:<50} {m.seconds:8.2f} s   RSS +{m.peak_mb:6.0f} MB (peak {m.rss_mb:6.0f} MB)"
        + allocated
    )


def _machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = psutil.virtual_memory().total / 1024**3
    python = platform.python_version()
    return f"{psutil.cpu_count()} CPUs ({model}), {ram:.0f} GiB RAM, Python {python}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="reference (and current) rows")
    parser.add_argument("--current-rows", type=int, default=None, help="current rows (chunked)")
    parser.add_argument(
        "--chunked", action="store_true", help="profile a parquet window by row group"
    )
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    print(_machine())
    if args.chunked:
        run_chunked(args.rows, args.current_rows or 10 * args.rows, args.chunk_rows)
    else:
        run_in_memory(args.rows, args.skip_evidently)


if __name__ == "__main__":
    main()

"""A large window through the Spark engine (local[2]) against the pandas chunked path.

    .venv/bin/python benchmarks/bench_spark.py --rows 10000000
    .venv/bin/python benchmarks/bench_spark.py --edges --rows 1000000

Default mode: a reference of ``--reference-rows`` rows (in memory) gives the baseline; a window
of ``--rows`` rows (benchmarks/_data.py, drifted 0.3) is written to parquet in row groups of
``--chunk-rows``. Then, on the same machine:

1. pandas chunked: the window's row groups read one by one and turned into the same partial
   statistics the Spark engine computes per partition (profile on the baseline's edges, column
   quality counts, binary performance counts), merged in this process;
2. Spark ``local[2]``: ``adapters.sources.spark.evaluate_spark_window`` on the parquet file:
   partials per partition (``mapInPandas``), merged on the executors (``treeReduce``), plus the
   whole-window Spark aggregates (duplicated rows and ids) and the judging.

Each is timed with the peak RSS of this (driver) process; for Spark also the JVM's peak RSS
(executors and driver share one JVM in local mode). The per-partition cost (one partial of
``--chunk-rows`` rows) and the merge cost (unpickle two partials, merge, pickle) are measured in
this process, for the scaling paragraph in the notes.

``--edges``: the resolution of the sketch edges against the exact-quantile edges of the
previous release at ``--rows`` rows: KS statistic, normed Wasserstein and PSI of every
numerical column, undrifted and drifted (the tolerance stated in ``stats/sketch.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import CATEGORICAL, NUMERICAL, iter_frames, make_frame

from mlflow_monitor.spec import parse_spec

T = TypeVar("T")
MB = 1024 * 1024
SPEC = parse_spec(
    {
        "task": "binary_classification",
        "positive_label": 1,
        "columns": {
            "target": "target",
            "prediction": "prediction",
            "score": "score",
            "numerical": NUMERICAL,
            "categorical": CATEGORICAL,
        },
        "estimation": {"enabled": False},
    },
    source="bench_spark",
)


class _Peak:
    """Peak RSS of this process and of its child processes (the JVM), sampled every 20 ms."""

    def __init__(self) -> None:
        self.own = self.children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.own = max(self.own, me.memory_info().rss)
            kids = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # a worker that just ended
                    kids += child.memory_info().rss
            self.children = max(self.children, kids)
            time.sleep(0.02)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(function: Callable[[], T]) -> tuple[T, float, _Peak]:
    with _Peak() as peak:
        started = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - started
    return result, seconds, peak


def write_window(path: Path, rows: int, chunk_rows: int) -> None:
    writer = None
    for frame in iter_frames(rows, chunk_rows, seed=5, drift=0.3):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=chunk_rows)
    assert writer is not None
    writer.close()


def run_window(rows: int, reference_rows: int, chunk_rows: int) -> None:
    from mlflow_monitor.adapters.sources import spark as engine
    from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame

    baseline = build_baseline_from_frame(SPEC, make_frame(reference_rows, seed=1, drift=0.0))
    names = [*NUMERICAL, *CATEGORICAL, "target", "score", "prediction"]
    partial = engine._window_partial(SPEC, baseline, names)
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as folder:
        path = Path(folder) / "window.parquet"
        _, seconds, _ = timed(lambda: write_window(path, rows, chunk_rows))
        size = path.stat().st_size / MB
        print(f"window: {rows:,} rows, {size:,.0f} MB parquet (written in {seconds:.0f} s)")

        def pandas_chunked() -> object:
            merged = None
            for group in range(pq.ParquetFile(path).num_row_groups):
                chunk = pq.ParquetFile(path).read_row_group(group).to_pandas()
                part = partial(chunk)  # type: ignore[operator]
                merged = part if merged is None else merged.merge(part)
            return merged

        merged, seconds, peak = timed(pandas_chunked)
        print(
            f"pandas chunked: {seconds:7.1f} s  driver peak RSS {peak.own / MB:7.0f} MB "
            f"({rows / seconds / 1e6:.2f} M rows/s)"
        )
        chunk = pq.ParquetFile(path).read_row_group(0).to_pandas()
        started = time.perf_counter()
        one = partial(chunk)  # type: ignore[operator]
        per_partition = time.perf_counter() - started
        blob = engine._pack(one)  # pickled and compressed, as a partition sends it
        started = time.perf_counter()
        for _ in range(5):
            engine._merge_pickled(blob, blob)
        merge = (time.perf_counter() - started) / 5
        print(
            f"  one partial of {len(chunk):,} rows: {per_partition:.2f} s; pickled "
            f"and compressed {len(blob) / MB:.2f} MB; merge of two (unpack, merge, pack): "
            f"{merge * 1e3:.0f} ms"
        )
        del merged, chunk, one

        session, seconds, _ = timed(lambda: engine.spark_session("local[2]"))
        print(f"spark session start (JVM): {seconds:.1f} s")
        window = session.read.parquet(str(path))
        partitions = window.rdd.getNumPartitions()
        result, seconds, peak = timed(lambda: engine.evaluate_spark_window(SPEC, baseline, window))
        print(
            f"spark local[2] evaluate: {seconds:7.1f} s  driver peak RSS {peak.own / MB:7.0f} MB, "
            f"JVM peak RSS {peak.children / MB:7.0f} MB, {partitions} partitions "
            f"({rows / seconds / 1e6:.2f} M rows/s); health {result.health}"
        )
        _, seconds, peak = timed(
            lambda: engine.profile_spark(
                window,
                numerical=[*NUMERICAL, "score"],
                categorical=[*CATEGORICAL, "target", "prediction"],
                reference=baseline.profile,
            )
        )
        print(f"  of which the profiles alone (one mapInPandas + treeReduce): {seconds:.1f} s")
        session.stop()


def run_edges(rows: int) -> None:
    """Sketch edges vs exact quantiles: KS, Wasserstein, PSI per numerical column."""
    from mlflow_monitor.stats import _binning
    from mlflow_monitor.stats.drift import compute_drift
    from mlflow_monitor.stats.profile import DatasetProfile, Histogram, NumericProfile

    numerical = [*NUMERICAL, "score"]
    reference = make_frame(rows, seed=1, drift=0.0)
    sketched = DatasetProfile.from_frame(reference, numerical=numerical, categorical=[])
    columns = dict(sketched.columns)
    largest = {"sketch": 0.0, "exact": 0.0}
    for name in numerical:
        column = columns[name]
        assert isinstance(column, NumericProfile)
        values = _binning.numeric_column(reference, name).values
        histogram = Histogram.of(values, _binning.quantile_edges(values, sketched.bins * 10))
        columns[name] = replace(column, histogram=histogram, sketch=None)
        if column.exact is None:  # continuous: the bins' resolution matters
            largest["sketch"] = max(largest["sketch"], column.histogram.counts.max() / rows)
            largest["exact"] = max(largest["exact"], histogram.counts.max() / rows)
    exact = replace(sketched, columns=columns)
    print(
        f"largest bin of a continuous column: sketch {largest['sketch']:.4%}, "
        f"exact quantiles {largest['exact']:.4%} of the reference"
    )
    for drift in (0.0, 0.3):
        current = make_frame(rows, seed=2, drift=drift)
        worst = {}
        for method in ("ks", "wasserstein", "psi"):
            deltas = []
            for profile in (sketched, exact):
                window = DatasetProfile.from_frame(
                    current, numerical=numerical, categorical=[], reference=profile
                )
                report = compute_drift(profile, window, numerical, method=method)
                deltas.append(
                    np.array([c.statistic if method == "ks" else c.score for c in report.columns])
                )
            worst[method] = float(np.max(np.abs(deltas[0] - deltas[1])))
        shown = ", ".join(f"{m} {v:.5f}" for m, v in worst.items())
        print(f"drift {drift}: largest |sketch - exact| over {len(numerical)} columns: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    parser.add_argument("--edges", action="store_true", help="sketch vs exact-quantile edges")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}, pandas {pd.__version__}")
    if args.edges:
        run_edges(args.rows)
    else:
        run_window(args.rows, args.reference_rows, args.chunk_rows)


if __name__ == "__main__":
    main()

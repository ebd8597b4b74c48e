"""The embedded prediction log (``ParquetLog``): append throughput, compaction, window reads.

    .venv/bin/python benchmarks/bench_prediction_log.py --rows 1000000 [--out results.json]

In a fresh temporary folder (``--dir`` to choose one; removed unless ``--keep``):

1. appends ``--rows`` rows of a churn-like frame (the ``META`` columns + 10 model columns: ids,
   numbers, categories, a score and a prediction; times spread evenly over 24 hours from noon, so
   two date partitions) in batches of ``--batch`` (1,000: what a capture buffer flushes), and
   ``--single`` (5,000) single-row appends to a second model: rows/s and per-append latency;
2. reads the whole 24-hour window once before compaction (``--batch``-row files);
3. ``compact()``: seconds, files before and after;
4. reads the 24-hour window (all ``--rows`` predictions) ``--repeat`` times after compaction, and
   one hour of one version, with ``read(model=, start=, end=)`` (files in the page cache: just
   written);
5. (unless ``--skip-write-dataset``) what ``pyarrow.dataset.write_dataset`` does with appends
   from 2 processes x 50 calls x 100 rows into one folder (``existing_data_behavior=
   "overwrite_or_ignore"``, default file names): rows written vs rows found.

Prints a table; ``--out`` also writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlflow_monitor.adapters.prediction_log.parquet_store import ParquetLog

MODEL = "churn-classifier"
SINGLE_MODEL = "churn-classifier-single"
START = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
SPAN = timedelta(hours=24)


def churn_frame(rows: int, *, model: str, seed: int = 0) -> pd.DataFrame:
    """``rows`` predictions: META + 10 model columns, times evenly over ``SPAN`` from ``START``."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, int(SPAN.total_seconds() * 1e6), rows))
    times = pd.DatetimeIndex(pd.Timestamp(START) + pd.to_timedelta(offsets, unit="us"))
    tenure = rng.integers(0, 72, rows)
    monthly = rng.uniform(18, 120, rows).round(2)
    score = rng.beta(2, 5, rows)
    return pd.DataFrame(
        {
            "mm_request_id": [f"{v:016x}" for v in rng.integers(0, 2**63, rows)],
            "mm_model": model,
            "mm_version": np.where(rng.random(rows) < 0.9, "7", "8"),
            "mm_time": times,
            "customer_id": [f"C{v:08d}" for v in rng.integers(0, 10**8, rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": (monthly * tenure).round(2),
            "contract": rng.choice(["month-to-month", "one-year", "two-year"], rows),
            "payment_method": rng.choice(["card", "transfer", "check", "e-check"], rows),
            "internet_service": rng.choice(["dsl", "fiber", "none"], rows),
            "support_tickets": rng.poisson(1.2, rows),
            "churn_score": score,
            "prediction": (score > 0.5).astype(np.int64),
        }
    )


def window_with_labels(log: ParquetLog, frame: pd.DataFrame) -> dict[str, Any]:
    """Labels for every prediction, then the version-7 window assembled with them joined."""
    import mlflow_monitor as mm
    from mlflow_monitor.workflows.log_windows import window_from_log

    rng = np.random.default_rng(3)
    labels = pd.DataFrame(
        {"id": frame["customer_id"], "label": rng.integers(0, 2, len(frame)), "event_time": None}
    )
    _, add_s = timed(lambda: log.add_labels(model=MODEL, labels=labels))
    spec = mm.make_spec(
        model=MODEL,
        task="binary_classification",
        positive_label=1,
        columns={
            "id": "customer_id",
            "target": "churned",
            "prediction": "prediction",
            "score": "churn_score",
            "numerical": ["tenure_months", "monthly_charges", "support_tickets"],
            "categorical": ["contract", "payment_method", "internet_service"],
        },
    )
    window, join_s = timed(
        lambda: window_from_log(spec, "7", log_uri=log.uri, start=START, end=START + SPAN)
    )
    return {
        "labels": len(labels),
        "add_labels_seconds": add_s,
        "rows": len(window.frame),
        "labelled": window.labelled,
        "seconds": join_s,
    }


def timed(function: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def append_all(log: ParquetLog, frame: pd.DataFrame, batch: int) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for i in range(0, len(frame), batch):
        part = frame.iloc[i : i + batch]
        t0 = time.perf_counter()
        log.append(part)
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    return {
        "rows": len(frame),
        "batch_rows": batch,
        "appends": len(latencies),
        "seconds": seconds,
        "rows_per_s": len(frame) / seconds,
        "append_ms_p50": statistics.median(ms),
        "append_ms_p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
    }


def files_of(root: Path, model_folder: str) -> int:
    folder = root / "predictions" / model_folder
    return sum(1 for p in folder.rglob("*.parquet") if not p.name.startswith("."))


def _write_dataset_worker(base: str, worker: int, calls: int, rows: int) -> None:
    import pyarrow.dataset as ds

    for call in range(calls):
        table = pa.table({"worker": [worker] * rows, "call": [call] * rows, "i": list(range(rows))})
        ds.write_dataset(
            table, base, format="parquet", existing_data_behavior="overwrite_or_ignore"
        )


def write_dataset_appends(base: Path, processes: int = 2, calls: int = 50, rows: int = 100) -> dict:
    import pyarrow.dataset as ds

    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_write_dataset_worker, args=(str(base), w, calls, rows))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    found = ds.dataset(str(base), format="parquet").count_rows()
    files = sorted(p.name for p in base.iterdir())
    return {
        "processes": processes,
        "calls_each": calls,
        "rows_written": processes * calls * rows,
        "rows_found": found,
        "files": files,
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "pandas": pd.__version__,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--single", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="an empty folder to write in")
    parser.add_argument("--keep", action="store_true", help="keep the folder")
    parser.add_argument("--skip-write-dataset", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON")
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-prediction-log-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "log"
    results: dict[str, Any] = {"machine": machine(), "rows": args.rows}
    try:
        frame, gen_s = timed(lambda: churn_frame(args.rows, model=MODEL))
        single = churn_frame(args.single, model=SINGLE_MODEL, seed=1)
        print(f"generated {len(frame):,} rows x {frame.shape[1]} columns in {gen_s:.1f} s")
        log = ParquetLog(str(root))

        results["append_batched"] = append_all(log, frame, args.batch)
        results["append_single"] = append_all(log, single, 1)
        window = {"model": MODEL, "start": START, "end": START + SPAN}
        files_before = files_of(root, f"model={MODEL}")
        files_single = files_of(root, f"model={SINGLE_MODEL}")
        out, before_s = timed(lambda: log.read(**window))
        assert len(out) == args.rows, len(out)
        del out
        results["read_before_compaction"] = {"files": files_before, "seconds": before_s}

        merged, compact_s = timed(log.compact)
        results["compact"] = {
            "seconds": compact_s,
            "files_merged_away": merged,
            "files_before": files_before + files_single,
            "files_after": files_of(root, f"model={MODEL}")
            + files_of(root, f"model={SINGLE_MODEL}"),
            "bytes_after": sum(p.stat().st_size for p in (root / "predictions").rglob("*.parquet")),
        }
        reads = []
        for _ in range(args.repeat):
            out, seconds = timed(lambda: log.read(**window))
            assert len(out) == args.rows, len(out)
            assert out["mm_request_id"].size == args.rows
            reads.append(seconds)
            del out
        hour, hour_s = timed(
            lambda: log.read(
                model=MODEL,
                version="8",
                start=START + timedelta(hours=3),
                end=START + timedelta(hours=4),
            )
        )
        results["read_after_compaction"] = {
            "rows": args.rows,
            "files": files_of(root, f"model={MODEL}"),
            "seconds": reads,
            "seconds_best": min(reads),
            "one_hour_one_version": {"rows": len(hour), "seconds": hour_s},
        }
        results["window_with_labels"] = window_with_labels(log, frame)
        if not args.skip_write_dataset:
            results["write_dataset"] = write_dataset_appends(work / "write_dataset")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    b, s = results["append_batched"], results["append_single"]
    c, r = results["compact"], results["read_after_compaction"]
    rb = results["read_before_compaction"]
    lines = [
        (
            "machine",
            f"{results['machine']['cpus']} CPU {results['machine']['cpu']}, "
            f"load {results['machine']['load_average'][0]:.1f}",
        ),
        (
            f"append {b['rows']:,} rows, {b['batch_rows']:,}-row batches",
            f"{b['seconds']:.1f} s = {b['rows_per_s']:,.0f} rows/s "
            f"(p50 {b['append_ms_p50']:.1f} ms, p99 {b['append_ms_p99']:.1f} ms per append)",
        ),
        (
            f"append {s['rows']:,} single rows",
            f"{s['seconds']:.1f} s = {s['rows_per_s']:,.0f} rows/s "
            f"(p50 {s['append_ms_p50']:.2f} ms, p99 {s['append_ms_p99']:.2f} ms)",
        ),
        (f"read 24 h window before compaction ({rb['files']:,} files)", f"{rb['seconds']:.2f} s"),
        (
            "compact()",
            f"{c['seconds']:.1f} s, {c['files_before']:,} -> {c['files_after']} files "
            f"({c['bytes_after'] / 2**20:.0f} MB)",
        ),
        (
            f"read 24 h window after compaction ({r['rows']:,} rows, {r['files']} files)",
            ", ".join(f"{x:.2f}" for x in r["seconds"]) + f" s (best {r['seconds_best']:.2f} s)",
        ),
        (
            f"window of version 7 with {results['window_with_labels']['labels']:,} labels joined",
            f"{results['window_with_labels']['seconds']:.2f} s "
            f"({results['window_with_labels']['rows']:,} rows, "
            f"{results['window_with_labels']['labelled']:,} labelled)",
        ),
        (
            "read 1 h of one version",
            f"{r['one_hour_one_version']['rows']:,} rows in "
            f"{r['one_hour_one_version']['seconds']:.3f} s",
        ),
    ]
    if "write_dataset" in results:
        w = results["write_dataset"]
        lines.append(
            (
                f"write_dataset: {w['processes']} processes x {w['calls_each']} appends",
                f"{w['rows_found']:,} of {w['rows_written']:,} rows kept, files {w['files']}",
            )
        )
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())

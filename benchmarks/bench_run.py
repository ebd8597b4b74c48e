"""Whole `mlflow-monitor run` end to end against Evidently's presets on the same data.

    .venv/bin/python benchmarks/bench_run.py --rows 1000000

Data: benchmarks/_data.py ``make_frames`` (15 numerical + 5 categorical features, target, score,
prediction), a reference and a drifted window of ``--rows`` rows each, written to parquet.
Setup (not timed in the ratio): a SQLite MLflow store, a registered model version, and the
baseline attached with ``mlflow-monitor baseline``.

Timed:
1. ``mlflow-monitor run`` as a subprocess, ``--repeat`` times (default 3, each a new window run
   on the same version; the median goes into the ratio), wall clock: interpreter start and
   imports, input validation, kernel start, ``monitor.ipynb`` (window profile, drift,
   performance, quality on all rows; Evidently HTML reports on ``sampling.report_rows``
   samples), MLflow logging, version tags, hooks, exit. Peak memory is the highest summed RSS
   of the command and its children (kernel, report child), sampled every 10 ms.
2. Evidently 0.7 ``Report([DataDriftPreset(), ClassificationPreset()])`` on the full reference
   and window frames, in this process (frames already in memory: the comparison favours it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import CATEGORICAL, NUMERICAL, make_frames

MB = 1024 * 1024
CLI = str(Path(sys.executable).parent / "mlflow-monitor")
SPEC = """\
model: bench-model
task: binary_classification
positive_label: 1
columns:
  target: target
  prediction: prediction
  score: score
  numerical: [{numerical}]
  categorical: [{categorical}]
"""


class TreeRss:
    """Peak summed RSS of a process and its children, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self._root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self._root, *self._root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _timed(command: list[str]) -> tuple[float, float, str]:
    global _LAST_START
    _LAST_START = time.time()
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rss = TreeRss(process.pid)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    peak = rss.stop() / MB
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed ({process.returncode}):\n{err[-3000:]}")
    steps = [line for line in err.splitlines() if line.lstrip()[:1].isdigit() and "s [" in line]
    return seconds, peak, "\n".join([out.strip(), *steps])


_LAST_START = 0.0  # wall-clock start of the last timed command, for the notebook's timeline


def _timeline(uri: str, out: str) -> list[str]:
    """Where the last run's time went: papermill's cell timestamps, from the command's start."""
    from datetime import datetime

    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    run_id = out.split("(run ")[1].split(",")[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = MlflowClient(uri).download_artifacts(run_id, "notebooks/monitor.ipynb", tmp)
        notebook = json.loads(Path(path).read_text())

    def since_start(stamp: str) -> float:
        return datetime.fromisoformat(stamp).timestamp() - _LAST_START

    meta = notebook["metadata"]["papermill"]
    lines = [f"{since_start(meta['start_time']):5.2f} s  papermill starts monitor.ipynb"]
    for cell in notebook["cells"]:
        timing = cell["metadata"].get("papermill", {})
        if cell["cell_type"] != "code" or not timing.get("start_time"):
            continue
        first = "".join(cell["source"]).strip().splitlines()[0][:60]
        start, took = since_start(timing["start_time"]), float(timing["duration"] or 0)
        lines.append(f"{start:5.2f} s  +{took:4.2f} s  {first}")
    lines.append(f"{since_start(meta['end_time']):5.2f} s  notebook done")
    return lines


def _setup(folder: Path, reference: Path) -> tuple[str, Path]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.create_registered_model("bench-model")
    version = client.create_model_version("bench-model", source=str(folder), run_id=None)
    spec = folder / "monitor.yaml"
    spec.write_text(SPEC.format(numerical=", ".join(NUMERICAL), categorical=", ".join(CATEGORICAL)))
    seconds, peak, _ = _timed(
        [
            CLI,
            "baseline",
            "--spec",
            str(spec),
            "--version",
            str(version.version),
            "--reference",
            str(reference),
            "--tracking-uri",
            uri,
        ]
    )
    print(f"setup: baseline on {reference.name}: {seconds:.1f} s, peak {peak:.0f} MB")
    return uri, spec


def _evidently(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[float, float]:
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[*NUMERICAL, "score"],
        categorical_columns=[*CATEGORICAL, "prediction"],
        classification=[BinaryClassification(target="target", prediction_probas="score")],
    )
    before = psutil.Process().memory_info().rss
    sampler = TreeRss(psutil.Process().pid)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Report([DataDriftPreset(), ClassificationPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
    seconds = time.perf_counter() - start
    return seconds, (sampler.stop() - before) / MB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the command")
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, python {platform.python_version()}"
    )
    reference, current = make_frames(args.rows, args.rows, seed=0, drift=0.3)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        folder = Path(tmp)
        reference.to_parquet(folder / "reference.parquet", index=False)
        current.to_parquet(folder / "window.parquet", index=False)
        uri, spec = _setup(folder, folder / "reference.parquet")
        command = [
            CLI,
            "run",
            "--spec",
            str(spec),
            "--version",
            "1",
            "--current",
            str(folder / "window.parquet"),
            "--tracking-uri",
            uri,
        ]
        timings = []
        for attempt in range(1, args.repeat + 1):
            seconds, peak, out = _timed(command)
            timings.append(seconds)
            print(
                f"mlflow-monitor run #{attempt}, {args.rows:,} rows, end to end: {seconds:.1f} s, "
                f"peak {peak:.0f} MB (command + kernel + report child)"
            )
        for line in out.splitlines():
            print(f"  | {line}")
        print("timeline of the last run (from the command's start):")
        for line in _timeline(uri, out):
            print(f"  | {line}")
        seconds = statistics.median(timings)
        print(f"mlflow-monitor run, median of {len(timings)}: {seconds:.2f} s")
    if args.skip_evidently:
        return
    ev_seconds, ev_peak = _evidently(reference, current)
    print(
        f"evidently DataDriftPreset + ClassificationPreset, same frames: {ev_seconds:.1f} s, "
        f"peak +{ev_peak:.0f} MB"
    )
    print(f"ratio evidently / mlflow-monitor run: {ev_seconds / seconds:.1f}x")


if __name__ == "__main__":
    main()

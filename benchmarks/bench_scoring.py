"""Scoring a window inside ``mlflow-monitor run``: the time added when the outputs are missing.

    .venv/bin/python benchmarks/bench_scoring.py --rows 1000000

Data: the demo churn story (``mlflow_monitor.datasets.churn``): the scikit-learn pipeline
(one-hot + histogram gradient boosting, up to 120 trees) trained on 20,000 customers, a 50,000-row
reference scored by it, and one seeded ``--rows`` window (``make_churn``, the stable week),
written to parquet twice: scored beforehand (``churn_score``, ``prediction``) and without them.
Setup (not timed in the comparison): a SQLite MLflow store and its artifacts in a temporary
folder, the model registered (``register_sklearn_model``, with an input example: a signature),
the churn spec (``churn_spec_yaml`` without its ``card:`` line; ``sampling.report_rows`` 2000)
and ``mlflow-monitor baseline`` on the reference.

Timed:
1. Scoring outside, in this process: ``churn.score`` (``predict_proba`` on the whole window,
   then the 0.5 threshold), what a user does before ``run`` today; and the pipeline's
   ``predict`` alone (the monitor calls both when both outputs are missing).
2. ``mlflow-monitor run`` as a subprocess on the window with outputs and on the window without,
   ``--repeat`` times each (each a new run on the same version; pairs in alternating order,
   after one untimed warm-up run), wall clock from interpreter start to exit; peak memory is
   the highest summed RSS of the command and its children (kernel, report child), sampled every
   10 ms. Time added: median without - median with. Where it goes, from the runs' own records:
   the command's time before ``monitor.ipynb`` starts (papermill's start time) and, within it,
   the model's download and check (from the ``[run] outputs missing: downloading`` progress
   line to the next one); the notebook's scoring cell (loading the model + ``score_window``);
   and ``scoring/seconds`` from ``results.json`` (``score_window``: ``predict`` and
   ``predict_proba`` batch by batch, ``scoring.batch_rows`` 100,000, and the column assembly).
Checks: both runs give the same health, and the unscored run's ``scoring.rows_scored`` is
``--rows``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlflow_monitor.datasets.churn import (
    CATEGORICAL,
    MODEL_NAME,
    NUMERICAL,
    START,
    churn_spec_yaml,
    make_churn,
    score,
    train_churn_model,
)

MB = 1024 * 1024
CLI = str(Path(sys.executable).parent / "mlflow-monitor")
OUTPUTS = ["churn_score", "prediction"]
SCORING_CELL = "score_own_outputs"  # the notebook cell that loads the model and scores


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


@dataclass
class Run:
    """One timed ``mlflow-monitor run`` and what its run recorded."""

    seconds: float
    peak_mb: float
    health: str
    scoring: dict[str, object] | None
    notebook_start: float  # papermill's start, seconds after the command started
    notebook_seconds: float
    scoring_cell: float  # the scoring cell's duration (0 when the window came scored)
    download: float  # the command's download + check of the model (0 when none)


def _timed(command: list[str]) -> tuple[float, float, float, str, str]:
    """Wall clock, peak tree RSS (MB), wall-clock start, stdout, stderr of ``command``."""
    started_at = time.time()
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rss = TreeRss(process.pid)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    peak = rss.stop() / MB
    if process.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[:2])} failed ({process.returncode}):\n{out[-2000:]}\n{err[-6000:]}"
        )
    return seconds, peak, started_at, out, err


def _download_seconds(err: str) -> float:
    """From the command's ``[run] ... downloading models:/...`` progress line to the next one."""
    stamps = [
        (float(line.split("s [run]")[0]), line)
        for line in err.splitlines()
        if "s [run]" in line and line.split("s [run]")[0].strip().replace(".", "").isdigit()
    ]
    for (at, line), (following, _) in itertools.pairwise(stamps):
        if "downloading models:/" in line:
            return following - at
    return 0.0


def _record(uri: str, out: str, err: str, started_at: float, seconds: float, peak: float) -> Run:
    """The run's ``results.json`` and the executed ``monitor.ipynb``'s cell times."""
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    run_id = out.split("(run ")[1].split(",")[0]
    client = MlflowClient(uri)
    with tempfile.TemporaryDirectory() as tmp:
        results = json.loads(
            Path(client.download_artifacts(run_id, "results.json", tmp)).read_text()
        )
        path = client.download_artifacts(run_id, "notebooks/monitor.ipynb", tmp)
        notebook = json.loads(Path(path).read_text())
    meta = notebook["metadata"]["papermill"]
    begin = datetime.fromisoformat(meta["start_time"]).timestamp()
    end = datetime.fromisoformat(meta["end_time"]).timestamp()
    cell = 0.0
    for item in notebook["cells"]:
        source = "".join(item["source"])
        if item["cell_type"] == "code" and f"window_scoring.{SCORING_CELL}(" in source:
            cell = float(item["metadata"].get("papermill", {}).get("duration") or 0.0)
    return Run(
        seconds=seconds,
        peak_mb=peak,
        health=str(results["health"]),
        scoring=results.get("scoring"),
        notebook_start=begin - started_at,
        notebook_seconds=end - begin,
        scoring_cell=cell,
        download=_download_seconds(err),
    )


def _setup(folder: Path, model: object, reference_path: Path, example: object) -> tuple[str, Path]:
    from mlflow_monitor.adapters.mlflow.models import register_sklearn_model

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    start = time.perf_counter()
    version = register_sklearn_model(
        model,
        MODEL_NAME,
        tracking_uri=uri,
        example=example,  # type: ignore[arg-type]
        artifact_root=folder / "mlartifacts",
    )
    print(f"setup: registered {MODEL_NAME} v{version}: {time.perf_counter() - start:.1f} s")
    spec = folder / "monitor.yaml"
    text = churn_spec_yaml().replace("card: card.yaml\n", "")
    spec.write_text(text)
    seconds, peak, _, _, _ = _timed(
        [
            CLI,
            "baseline",
            "--spec",
            str(spec),
            "--version",
            version,
            "--reference",
            str(reference_path),
            "--tracking-uri",
            uri,
        ]
    )
    print(f"setup: baseline on {reference_path.name}: {seconds:.1f} s, peak {peak:.0f} MB")
    return uri, spec


def _median(runs: list[Run], attr: str) -> float:
    return statistics.median(float(getattr(r, attr)) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each window")
    parser.add_argument(
        "--warmup", type=int, default=1, choices=(0, 1), help="an untimed run first (1)"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, python {platform.python_version()}"
    )
    import sklearn

    start = time.perf_counter()
    train = make_churn(20_000, seed=1, start=START - timedelta(days=28), days=21)
    model = train_churn_model(train)
    reference = score(model, make_churn(50_000, seed=2, start=START))
    window = make_churn(args.rows, seed=100, start=START + timedelta(days=7))
    print(
        f"setup: trained on {len(train):,} rows, reference {len(reference):,} rows scored, "
        f"window {len(window):,} rows generated: {time.perf_counter() - start:.1f} s "
        f"(scikit-learn {sklearn.__version__})"
    )

    start = time.perf_counter()
    scored = score(model, window)
    outside = time.perf_counter() - start
    start = time.perf_counter()
    labels = model.predict(window[NUMERICAL + CATEGORICAL])  # type: ignore[attr-defined]
    outside_predict = time.perf_counter() - start
    agree = float((labels == scored["prediction"].to_numpy()).mean())
    print(
        f"scoring outside, {args.rows:,} rows in one call: churn.score (predict_proba + "
        f"threshold) {outside:.1f} s; predict alone {outside_predict:.1f} s "
        f"(predict == score >= 0.5 on {agree:.4%} of rows)"
    )

    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        folder = Path(tmp)
        reference.to_parquet(folder / "reference.parquet", index=False)
        with_outputs = folder / "window_scored.parquet"
        without = folder / "window_raw.parquet"
        scored.to_parquet(with_outputs, index=False)
        window.to_parquet(without, index=False)
        assert not set(OUTPUTS) & set(window.columns)
        del scored, window, train
        example = reference[NUMERICAL + CATEGORICAL].head(5)
        uri, spec = _setup(folder, model, folder / "reference.parquet", example)

        def command(path: Path) -> list[str]:
            return [
                CLI,
                "run",
                "--spec",
                str(spec),
                "--version",
                "1",
                "--current",
                str(path),
                "--tracking-uri",
                uri,
            ]

        if args.warmup:
            seconds, _, _, _, _ = _timed(command(with_outputs))
            print(f"warm-up run (window with outputs, not counted): {seconds:.1f} s")
        runs: dict[str, list[Run]] = {"with": [], "without": []}
        steps: dict[str, list[str]] = {}
        pair = [("with", with_outputs), ("without", without)]
        for attempt in range(1, args.repeat + 1):
            # with, without; then without, with: neither side always goes first
            for kind, path in pair if attempt % 2 else pair[::-1]:
                seconds, peak, started_at, out, err = _timed(command(path))
                run = _record(uri, out, err, started_at, seconds, peak)
                runs[kind].append(run)
                steps[kind] = [line.strip() for line in err.splitlines() if "s [run]" in line]
                scored_text = ""
                if run.scoring:
                    scored_text = (
                        f", scored {run.scoring['rows_scored']:,} rows, "
                        f"scoring/seconds {run.scoring['seconds']:.2f} s"
                    )
                print(
                    f"run #{attempt}, window {kind} outputs: {seconds:.1f} s, peak {peak:.0f} MB, "
                    f"health {run.health}; notebook from {run.notebook_start:.1f} s for "
                    f"{run.notebook_seconds:.1f} s, scoring cell {run.scoring_cell:.2f} s"
                    f"{scored_text}"
                )
        for kind, lines in steps.items():
            print(f"the command's steps, last run on the window {kind} outputs:")
            for line in lines:
                print(f"  | {line}")

    _report(args.rows, runs["with"], runs["without"], outside, outside_predict)


def _report(
    rows: int, given: list[Run], raw: list[Run], outside: float, outside_predict: float
) -> None:
    """Checks, the table (Markdown, as in benchmarks/README.md) and where the added time goes."""
    healths = {r.health for r in given + raw}
    counted = [r.scoring["rows_scored"] if r.scoring else None for r in raw]
    same = len(healths) == 1
    every_row = all(n == rows for n in counted) and all(r.scoring is None for r in given)
    print(f"check: same health in every run: {same} ({', '.join(sorted(healths))})")
    print(f"check: the unscored window's runs scored every row: {every_row} ({counted})")

    predict = statistics.median(float(r.scoring["seconds"]) for r in raw if r.scoring)  # type: ignore[arg-type]
    each = [f"{' / '.join(f'{r.seconds:.1f}' for r in side)} s" for side in (given, raw)]
    lines = [
        ("`mlflow-monitor run`, end to end, each run", *each, ""),
        *_row("&nbsp;&nbsp;**median**", given, raw, "seconds", bold=True),
        *_row("&nbsp;&nbsp;command before `monitor.ipynb` starts", given, raw, "notebook_start"),
        *_row("&nbsp;&nbsp;&nbsp;&nbsp;the model's download + check", given, raw, "download"),
        *_row("&nbsp;&nbsp;`monitor.ipynb`", given, raw, "notebook_seconds"),
        *_row(
            "&nbsp;&nbsp;&nbsp;&nbsp;its scoring cell (load the model + score)",
            given,
            raw,
            "scoring_cell",
        ),
        (
            "&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;`score_window` (`scoring/seconds`)",
            "",
            f"{predict:.2f} s",
            "",
        ),
        *_row("peak memory (command + kernel + report child)", given, raw, "peak_mb", unit="MB"),
        ("scoring outside, one call: `predict_proba` + threshold", f"{outside:.2f} s", "", ""),
        ("scoring outside, one call: `predict`", f"{outside_predict:.2f} s", "", ""),
    ]
    print()
    print(f"| {rows:,} rows, median of {len(given)} | window with outputs | without | added |")
    print("|---|---:|---:|---:|")
    for line in lines:
        print("| " + " | ".join(line) + " |")
    print()
    added = _median(raw, "seconds") - _median(given, "seconds")
    download = _median(raw, "download")
    load = _median(raw, "scoring_cell") - predict
    rest = added - download - load - predict
    print(
        f"time added by scoring inside run: {added:.1f} s for {rows:,} rows. score_window "
        f"(predict + predict_proba in batches, columns filled) {predict:.1f} s = "
        f"{rows / predict:,.0f} rows/s, {predict / added:.0%} of the added time; loading the "
        f"model in the kernel {load:.1f} s; downloading and checking it (command) "
        f"{download:.1f} s; the rest of the run (noise, the bigger frame) {rest:+.1f} s. "
        f"Scoring outside in one call: predict_proba {outside:.1f} s, + predict "
        f"{outside + outside_predict:.1f} s."
    )
    if not (same and every_row):
        raise SystemExit("checks failed")


def _row(
    label: str, given: list[Run], raw: list[Run], attr: str, *, unit: str = "s", bold: bool = False
) -> list[tuple[str, str, str, str]]:
    digits = 0 if unit == "MB" else 2
    a, b = _median(given, attr), _median(raw, attr)
    cells = [f"{a:,.{digits}f} {unit}", f"{b:,.{digits}f} {unit}", f"{b - a:+,.{digits}f} {unit}"]
    if bold:
        cells = [f"**{c}**" for c in cells]
    return [(label, *cells)]


if __name__ == "__main__":
    main()

"""`mlflow-monitor fleet run` over many model versions, each with a large window, end to end.

    .venv/bin/python benchmarks/bench_fleet.py                      # 50 versions x 100,000 rows
    .venv/bin/python benchmarks/bench_fleet.py --versions 4 --rows 5000     # a quick run
    .venv/bin/python benchmarks/bench_fleet.py --backend postgresql  # MLflow on PostgreSQL

Setup (untimed): an MLflow store (SQLite file in a temp folder, or a fresh PostgreSQL database at
127.0.0.1:5432 with ``--backend postgresql``); ``--models`` registered churn models (the demo's
spec, data and classifier: ``mlflow_monitor.datasets.churn``), their ``--versions`` versions
spread over them (50 = 10 models x 5 versions), each holding an alias (``slot1``...), so the fleet
takes its default: every version holding an alias. Version 1 of each model is a logged
scikit-learn model; its other versions are registered from the same artifacts. One baseline per
model (built with ``build_baseline_run`` on a 20,000-row reference, in parallel), attached to
each of its versions (tag ``monitor.baseline_run_id``). A prediction log (the embedded parquet
store) holding, per version, ``--rows`` scored predictions inside the latest complete day, and
their labels (every row labelled). The versions of a model see differently drifted data, so the
fleet's health is mixed.

Timed: ``mlflow-monitor fleet run fleet.yaml`` as a subprocess, wall clock from its start to its
exit (summary printed): worker start-up, each version's window read from the log with its labels
joined, ``monitor.ipynb`` and ``fairness_audit.ipynb`` (statistics on all rows, Evidently reports
on 2,000-row samples, plots), HTML rendering, MLflow logging, version tags, card, alerts. Also:
per-window times and the time line of a window (from ``--report``), the peak summed RSS of the
command's process tree (psutil, every 0.2 s), and the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

MB = 1024 * 1024
CLI = str(Path(sys.executable).parent / "mlflow-monitor")
DAY = 86400.0
REFERENCE_ROWS = 20_000
DRIFTS = (0.0, 0.2, 0.4, 0.7, 0.0)  # per version slot: mixed health across the fleet


class TreeRss:
    """Peak summed RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self._root = psutil.Process(pid)
        self._every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self._root, *self._root.children(recursive=True)]
                total = 0
                for proc in procs:
                    with contextlib.suppress(psutil.Error):
                        total += proc.memory_info().rss
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(self._every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


# -- setup (untimed) ---------------------------------------------------------------------------


def _postgres_uri() -> tuple[str, str]:
    import psycopg2

    for user in ("postgres", "root"):
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=user)
            break
        except psycopg2.OperationalError:
            continue
    else:
        raise SystemExit("PostgreSQL at 127.0.0.1:5432 (database test) not reachable")
    conn.autocommit = True
    name = f"bench_fleet_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return f"postgresql+psycopg2://{user}@127.0.0.1:5432/{name}", name


def _drop_postgres(name: str) -> None:
    import psycopg2

    for user in ("postgres", "root"):
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=user)
        except psycopg2.OperationalError:
            continue
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
        return


def _baseline(args: tuple[str, str, str, str]) -> str:
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    spec, version, reference, uri = args
    return build_baseline_run(spec, version, reference, tracking_uri=uri).run_id


def setup(root: Path, uri: str, *, models: int, versions: int, rows: int, now: datetime) -> Path:
    """The fleet's store, specs, baselines and prediction log; returns the fleet file."""
    from mlflow.tracking import MlflowClient

    from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
    from mlflow_monitor.adapters.prediction_log import open_log
    from mlflow_monitor.datasets import churn
    from mlflow_monitor.workflows.log_windows import latest_window

    os.environ["MLFLOW_TRACKING_URI"] = uri  # registering a version resolves its logged model
    start, _ = latest_window(DAY, now=now, grace_seconds=3600)
    train = churn.make_churn(6000, seed=1, start=start - timedelta(days=28), days=21)
    model = churn.train_churn_model(train)
    reference = root / "reference.parquet"
    churn.score(model, churn.make_churn(REFERENCE_ROWS, seed=2)).to_parquet(reference, index=False)
    client = MlflowClient(uri)
    log = open_log(str(root / "log"))
    per_model = [versions // models + (1 if m < versions % models else 0) for m in range(models)]
    baselines, specs = [], []
    for m, count in enumerate(c for c in per_model if c):
        name = f"churn-{m:02d}"
        spec = churn_spec(root / name, name)
        first = register_sklearn_model(
            model, name, tracking_uri=uri, artifact_root=_artifacts(uri, root)
        )
        source = client.get_model_version(name, first)
        numbers = [first] + [
            client.create_model_version(name, source.source, run_id=source.run_id).version
            for _ in range(count - 1)
        ]
        for k, number in enumerate(numbers):
            client.set_registered_model_alias(name, f"slot{k + 1}", str(number))
            drift = DRIFTS[k % len(DRIFTS)]
            _log_window(
                log, churn, model, name, str(number), rows, start, seed=10 * m + k, drift=drift
            )
        baselines.append((str(spec), str(first), str(reference), uri))
        specs.append((name, spec, numbers))
    with ProcessPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(_baseline, baselines))
    for (name, _, numbers), run_id in zip(specs, runs, strict=True):
        for number in numbers[1:]:
            client.set_model_version_tag(name, str(number), "monitor.baseline_run_id", run_id)
    fleet = root / "fleet.yaml"
    entries = "\n".join(f"  - spec: {name}/monitor.yaml" for name, _, _ in specs)
    fleet.write_text(f"log: log\nperiod: 1d\ngrace: 1h\nmodels:\n{entries}\n")
    return fleet


def _artifacts(uri: str, root: Path) -> Path | None:
    return root / "mlartifacts" if uri.startswith("sqlite:") else root / "pg-artifacts"


def churn_spec(folder: Path, name: str) -> Path:
    from mlflow_monitor.workflows.demo import write_demo_spec

    return write_demo_spec(folder / "monitor.yaml", model=name)


_FRAMES: dict[float, object] = {}


def _log_window(log, churn, model, name, version, rows, start, *, seed, drift) -> None:
    """``rows`` scored predictions of ``version`` inside the window, and their labels.

    One frame is generated and scored per drift level and reused; each version gets its own
    customer ids (a label joins the latest prediction of its id: ids must not be shared).
    """
    import pandas as pd

    if drift not in _FRAMES:
        made = churn.make_churn(rows, seed=len(_FRAMES) + 7, drift=drift, start=start, days=0.99)
        _FRAMES[drift] = churn.score(model, made)
    frame = _FRAMES[drift].assign(customer_id=lambda f: f["customer_id"] + seed * 10_000_000)
    times = pd.to_datetime(frame["event_time"], utc=True)
    logged = frame.drop(columns=["churned"]).assign(
        mm_request_id=f"{seed}-" + pd.Series(range(len(frame))).astype(str),
        mm_model=name,
        mm_version=version,
        mm_time=times,
    )
    meta = ["mm_request_id", "mm_model", "mm_version", "mm_time"]
    log.append(logged[meta + [c for c in logged.columns if c not in meta]])
    ids = frame["customer_id"].astype(str)
    labels = pd.DataFrame({"id": ids, "label": frame["churned"], "event_time": times})
    log.add_labels(model=name, labels=labels)


# -- the timed command ---------------------------------------------------------------------------


def run_fleet(fleet: Path, uri: str, concurrency: int | None) -> dict[str, object]:
    report = fleet.parent / "report.json"
    command = [CLI, "fleet", "run", str(fleet), "--tracking-uri", uri, "--report", str(report)]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    load_start = os.getloadavg()
    cpu_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    rss = TreeRss(process.pid)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    peak = rss.stop() / MB
    load_end = os.getloadavg()
    cpu = _children_cpu() - cpu_before
    if process.returncode not in (0, 1):
        print(out, err, sep="\n", file=sys.stderr)
    body = json.loads(report.read_text()) if report.is_file() else {"windows": []}
    return {
        "wall": wall,
        "peak_mb": peak,
        "load_start": load_start,
        "load_end": load_end,
        "exit": process.returncode,
        "cpu": cpu,
        "windows": body["windows"],
        "stdout": out,
        "stderr": err,
    }


def _children_cpu() -> float:
    """CPU seconds (user + system) of every descendant waited for so far: the command, its
    workers, their kernels and report children (each waited for by its parent)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_STAGE_PATTERNS = (  # a window's progress lines, without what differs between windows
    (re.compile(r"predictions from the log"), "window read from the log (staged ahead)"),
    (re.compile(r"^\[run\] \S+ v\d+: run "), "MLflow run started (inputs validated)"),
    (re.compile(r"executing (\S+)"), r"executing \1"),
    (re.compile(r"^\[run\] logging"), "notebooks done, HTML rendered; logging to MLflow"),
    (re.compile(r"^\[run\] health"), "logged, verdict settled; card, alerts"),
    (re.compile(r"^\[run\] done"), "done"),
)


def _stages(windows: list[dict[str, object]]) -> list[tuple[str, float]]:
    """Median offset (s from the window's start) at which each stage of a window began."""
    marks: dict[str, list[float]] = {}
    for w in windows:
        for offset, line in w["timeline"]:  # type: ignore[union-attr]
            for pattern, name in _STAGE_PATTERNS:
                found = pattern.search(str(line))
                if found:
                    marks.setdefault(found.expand(name), []).append(float(offset))
                    break
        marks.setdefault("window ended", []).append(float(w["seconds"]))  # type: ignore[arg-type]
    return sorted(((k, statistics.median(v)) for k, v in marks.items()), key=lambda kv: kv[1])


def report(result: dict[str, object], args: argparse.Namespace, setup_seconds: float) -> None:
    windows = result["windows"]
    assert isinstance(windows, list)
    seconds = sorted(float(w["seconds"]) for w in windows)
    health = [w["health"] or "FAILED" for w in windows]
    print(
        f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, python {platform.python_version()}"
    )
    print(
        f"fleet: {len(windows)} versions ({args.models} models), {args.rows:,} rows per window, "
        f"backend {args.backend}, concurrency {args.concurrency or psutil.cpu_count()}"
    )
    print(f"setup (untimed): {setup_seconds:.1f} s")
    print()
    print("| what | value |")
    print("|---|---:|")
    print(f"| `fleet run` wall clock, start to summary | **{result['wall']:.1f} s** |")
    print(f"| exit code | {result['exit']} |")
    cpu = float(result["cpu"])  # type: ignore[arg-type]
    print(f"| CPU time of the command's process tree (user + system) | {cpu:.0f} s |")
    own = sorted(float(w.get("cpu_seconds", 0.0)) for w in windows)
    if own:
        print(
            f"| CPU per window, counted in its worker (median / max) | "
            f"{statistics.median(own):.1f} / {own[-1]:.1f} s |"
        )
        print(
            f"| CPU outside the windows (start-up, staging the log, unused kernels, exit) | "
            f"{cpu - sum(own):.0f} s |"
        )
    if seconds:
        print(
            f"| per window: median / p90 / max | {statistics.median(seconds):.1f} / "
            f"{seconds[int(0.9 * (len(seconds) - 1))]:.1f} / {seconds[-1]:.1f} s |"
        )
        print(f"| windows per minute | {60 * len(seconds) / float(result['wall']):.1f} |")
    print("| health | " + ", ".join(f"{health.count(h)} {h}" for h in sorted(set(health))) + " |")
    peak = f"{result['peak_mb']:,.0f} MB"
    print(f"| peak memory (command + workers + kernels + report children) | {peak} |")
    start, end = (" ".join(f"{x:.1f}" for x in result[k]) for k in ("load_start", "load_end"))
    print(f"| load average at start / end (1, 5, 15 min) | {start} / {end} |")
    claimed = [int(w["kernels_claimed"]) for w in windows]
    print(f"| notebooks run in a kernel started ahead | {sum(claimed)} (of {2 * len(windows)}) |")
    print()
    print("A window's time line (median offset from the window's start, seconds):")
    for key, offset in _stages(windows):
        print(f"  {offset:6.2f}  {key}")
    failed = [w for w in windows if w["error"]]
    for w in failed[:5]:
        print(f"FAILED {w['model']} v{w['version']}: {w['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (printed)")
    args = parser.parse_args()
    args.models = min(args.models, args.versions)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    root = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    dbname = None
    if args.backend == "postgresql":
        uri, dbname = _postgres_uri()
    else:
        uri = f"sqlite:///{root / 'mlflow.db'}"
    try:
        t0 = time.perf_counter()
        now = datetime.now(timezone.utc)
        fleet = setup(
            root, uri, models=args.models, versions=args.versions, rows=args.rows, now=now
        )
        setup_seconds = time.perf_counter() - t0
        result = run_fleet(fleet, uri, args.concurrency)
        report(result, args, setup_seconds)
        kept = {k: v for k, v in result.items() if k not in ("stdout", "stderr")}
        (root / "bench.json").write_text(json.dumps(kept, indent=1))
    finally:
        if dbname:
            _drop_postgres(dbname)
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

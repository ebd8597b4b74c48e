"""Evidently HTML reports for the audit trail, on bounded seeded samples.

Evidently is the visual layer: it recomputes every statistic from raw rows, which at 1,000,000
rows costs minutes, so it only ever sees ``spec.sampling.report_rows`` seeded rows of the baseline's
reference sample and of the window. The numbers that decide health come from ``stats/`` on all
rows; the reports show the same story on a sample for a human reader.

Reports are written by the monitoring notebook itself (not by ``monitor.py``), so the executed
notebook records that they were produced and with which sample sizes: the audit trail and the
reports cannot disagree. The notebook starts them first, in a child process
(``start_reports``, ``python -m mlflow_monitor.reports``), and collects them last: importing
Evidently alone takes 5-7 s and the reports another 5 s, which then overlap with the kernel's own
imports, window load and statistics (measured on 1,000,000 rows, 2 cores: the whole ``run``
went from 32 s to the time in benchmarks/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlflow_monitor.errors import MonitorError
from mlflow_monitor.spec import MonitorSpec

__all__ = ["ReportFiles", "ReportJob", "sample_rows", "start_reports", "write_reports"]


@dataclass(frozen=True)
class ReportFiles:
    """The HTML files written and the sample sizes they were built on."""

    drift: Path
    performance: Path | None
    reference_rows: int
    current_rows: int


@dataclass(frozen=True, eq=False)
class ReportJob:
    """Reports being written by a child process; ``wait`` returns them or raises its error."""

    process: subprocess.Popen[str]

    def wait(self) -> ReportFiles:
        """Block until the reports are written; a failure is a ``MonitorError`` with its line."""
        out, err = self.process.communicate()
        if self.process.returncode != 0:
            lines = [line for line in err.strip().splitlines() if line.strip()]
            raise MonitorError(f"reports: {lines[-1] if lines else 'child process failed'}")
        body = json.loads(out.strip().splitlines()[-1])
        performance = body["performance"]
        return ReportFiles(
            Path(body["drift"]),
            Path(performance) if performance else None,
            int(body["reference_rows"]),
            int(body["current_rows"]),
        )


def start_reports(
    spec_path: str,
    baseline_dir: str,
    current_path: str,
    window_start: str,
    window_end: str,
    out_dir: str | Path,
) -> ReportJob:
    """Start writing the reports in a child process (same inputs as the monitoring notebook)."""
    args = [spec_path, baseline_dir, current_path, window_start, window_end, str(out_dir)]
    command = [sys.executable, "-m", "mlflow_monitor.reports", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent,
    )
    return ReportJob(process)


def _die_with_parent() -> None:
    """Linux: the child is killed when the kernel that started it goes (a failed notebook)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def sample_rows(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows drawn without replacement with ``seed`` (the frame if smaller)."""
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def _definition(spec: MonitorSpec, with_task: bool) -> object:
    from evidently import BinaryClassification, DataDefinition, MulticlassClassification, Regression

    cols = spec.columns
    numerical = list(cols.numerical)
    categorical = list(cols.categorical)
    if not with_task:
        if cols.score:
            numerical.append(cols.score)
        if cols.prediction:
            target_list = numerical if spec.task == "regression" else categorical
            target_list.append(cols.prediction)
        return DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    target = cols.target or ""
    task: dict[str, object] = {}
    if spec.task == "regression":
        task["regression"] = [Regression(target=target, prediction=cols.prediction or "")]
    elif spec.task == "binary_classification":
        pos = spec.positive_label if spec.positive_label is not None else 1
        task["classification"] = [
            BinaryClassification(
                target=target,
                prediction_labels=cols.prediction,
                prediction_probas=cols.score,
                pos_label=pos,  # type: ignore[arg-type]
            )
        ]
    else:
        task["classification"] = [
            MulticlassClassification(
                target=target,
                prediction_labels=cols.prediction,
                prediction_probas=list(cols.probabilities) or None,
            )
        ]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical, **task)


def _drift_columns(spec: MonitorSpec) -> list[str]:
    cols = spec.columns
    names = list(cols.features)
    if spec.drift.prediction:
        names += [c for c in (cols.prediction, cols.score) if c]
    return names


def _labelled(frame: pd.DataFrame, spec: MonitorSpec) -> pd.DataFrame:
    target = spec.columns.target
    if not target or target not in frame.columns:
        return frame.iloc[0:0]
    return frame.loc[frame[target].notna()]


def write_reports(
    spec: MonitorSpec, reference: pd.DataFrame, current: pd.DataFrame, out_dir: str | Path
) -> ReportFiles:
    """Write ``data_drift.html`` and ``classification.html``/``regression.html`` into ``out_dir``.

    The performance report is skipped (``performance`` is None) when either side has no labels.
    """
    from evidently import Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows, seed = spec.sampling.report_rows, spec.sampling.seed
    ref = sample_rows(reference, rows, seed)
    cur = sample_rows(current, rows, seed)
    columns = [c for c in _drift_columns(spec) if c in ref.columns and c in cur.columns]
    plain = _definition(spec, with_task=False)
    drift = Report([DataDriftPreset(columns=columns)]).run(
        Dataset.from_pandas(cur[columns], data_definition=plain),  # type: ignore[arg-type]
        Dataset.from_pandas(ref[columns], data_definition=plain),  # type: ignore[arg-type]
    )
    drift_path = folder / "data_drift.html"
    drift.save_html(str(drift_path))
    perf_path = _performance_report(spec, ref, cur, folder, ClassificationPreset, RegressionPreset)
    return ReportFiles(drift_path, perf_path, len(ref), len(cur))


def _performance_report(
    spec: MonitorSpec,
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    folder: Path,
    classification: type,
    regression: type,
) -> Path | None:
    from evidently import Dataset, Report

    ref_l, cur_l = _labelled(ref, spec), _labelled(cur, spec)
    if ref_l.empty or cur_l.empty:
        return None
    definition = _definition(spec, with_task=True)
    preset = regression() if spec.task == "regression" else classification()
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur_l, data_definition=definition),  # type: ignore[arg-type]
        Dataset.from_pandas(ref_l, data_definition=definition),  # type: ignore[arg-type]
    )
    name = "regression.html" if spec.task == "regression" else "classification.html"
    path = folder / name
    snapshot.save_html(str(path))
    return path


def _main(argv: Sequence[str]) -> int:
    """Child-process entry: load the inputs like the notebook does, write, print the files."""
    from mlflow_monitor import data
    from mlflow_monitor.baseline import SAMPLE_FILE
    from mlflow_monitor.spec import load_spec

    spec_path, baseline_dir, current_path, window_start, window_end, out_dir = argv
    spec = load_spec(spec_path)
    start = data.parse_time(window_start, "window-start")
    end = data.parse_time(window_end, "window-end")
    frame = data.load_window(spec, current_path, start, end)
    reference = pd.read_parquet(Path(baseline_dir) / SAMPLE_FILE)
    files = write_reports(spec, reference, frame, out_dir)
    body = {
        "drift": str(files.drift),
        "performance": str(files.performance) if files.performance else None,
        "reference_rows": files.reference_rows,
        "current_rows": files.current_rows,
    }
    print(json.dumps(body))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

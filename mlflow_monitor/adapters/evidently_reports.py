"""Evidently HTML reports for the audit trail, on bounded seeded samples.

Evidently is the visual layer: it recomputes every statistic from raw rows, which at 1,000,000
rows costs minutes, so it only ever sees ``spec.sampling.report_rows`` seeded rows of the baseline's
reference sample and of the window. The numbers that decide health come from ``stats/`` on all
rows; the reports show the same story on a sample for a human reader.

Reports are written at the monitoring notebook's request (not by the workflow), so the executed
notebook records that they were produced and with which sample sizes: the audit trail and the
reports cannot disagree. They run in a child process (``python -m`` this module) because
importing Evidently alone takes 5-7 s and the reports another 5 s, time that overlaps with the
kernel's statistics. ``run`` goes further: ``report_worker`` starts that child before
MLflow is even imported, so Evidently is loaded by the time the notebook hands it the window's
seeded sample (``start_reports(..., current=frame)``; the child then never reads the whole
window). Without a worker (a notebook run by hand) ``start_reports`` starts a fresh child.
``fleet run`` keeps one worker per fleet worker process for all its windows
(``report_worker(serve=True)``): each ``start_reports`` claims a job folder of its own inside
the worker's folder (``job-<uuid>``), and the child writes the jobs' reports one after the other,
importing Evidently once instead of once per window (about 2 s of CPU each).
Measured on 1,000,000 rows, 2 cores: see benchmarks/README.md.

Reports are optional outputs (DESIGN.md section 7): they never fail a window. An exception while
writing one report skips that report with a one-line note (Evidently 0.7 raises ``KeyError`` on
a window whose labels are all one class, ``ValueError`` on an all-empty column); a child that
cannot start, dies or is killed is a note from ``ReportJob.wait`` too. The notes end up in
``results.json``. The seeded sample handed to the child holds ids and protected attributes, so
its folder goes on every path: in ``wait``, when the job is dropped unwaited or the process
exits (``weakref.finalize``), and, under a worker, with the worker's folder, which the process
that started the worker removes even when the notebook's kernel is killed.

One truth per column. Each report opens with the tool's own verdicts, taken from the window's
result (``results.json``: drift per column with its method, score, threshold, drifted or not and
the rows on each side, the share of drifted columns; the performance checks), computed on all
rows; ``attach_verdicts`` puts them in once the notebook has them (the child starts before they
exist), ``write_reports(..., results=)`` does it directly. Evidently's own verdicts are left
out, not aligned: its drift tests on a 5,000-row sample decide differently from the same test on
all rows (a p-value shrinks with the rows), so even with the tool's methods and thresholds per
column it would contradict ``results.json`` on some windows. What is kept of the drift report is
a whitelist (``_distributions_only``): each column's reference and window distributions and
its detail charts; the dataset drift counter, the drifted counts, the table's title and its
Data Drift / Stat Test / Drift Score columns are dropped, and so is whatever a later Evidently
adds. The presets run without tests (Evidently's pass/fail on the sample). The charts are
labelled "drawn from a seeded sample of N rows; the verdicts above are on all rows".

Safe HTML. Evidently 0.7 writes its data into a ``<script>`` as plain ``json.dumps``: a column
named ``x</script><script>alert(1)</script>`` ends that script and the rest is live markup
(measured in headless Chromium: the alert fired and ``<img onerror>`` categories became elements).
``_page`` renders Evidently's own template without data and puts the data in with ``<``, ``>``
and ``&`` as JSON escapes (``\\u003c``): the same values for the script, no tag for the HTML
parser; the tool's own sections are ``html.escape``d. Names are shown as they are, not aliased.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_monitor.adapters.notebook_parameters import NotebookParameters
from mlflow_monitor.adapters.processes import process_alive
from mlflow_monitor.contract import REPORTS_DIR, SAMPLE_FILE
from mlflow_monitor.spec import MonitorSpec

if TYPE_CHECKING:  # pandas is imported by the functions that use it: report_worker stays light
    import numpy as np
    import pandas as pd

    from mlflow_monitor.contract import CheckOutcome, WindowResults
    from mlflow_monitor.stats.drift import ColumnDrift, DriftReport

__all__ = [
    "SAMPLE_PREFIX",
    "WORKER_ENV",
    "ReportFiles",
    "ReportJob",
    "attach_verdicts",
    "report_worker",
    "sample_rows",
    "start_reports",
    "write_reports",
]

WORKER_ENV = "MLFLOW_MONITOR_REPORT_WORKER"
SAMPLE_PREFIX = "mlflow-monitor-sample-"
_SAMPLE_FILE = "current_sample.parquet"
_POLL_SECONDS = 0.02
_SERVING = "serving"  # marks a worker that takes job after job (``report_worker(serve=True)``)
_JOB_PREFIX = "job-"


@dataclass(frozen=True)
class ReportFiles:
    """The HTML files written, the sample sizes they were built on, and why any was skipped.

    A report that could not be written is None with a line in ``notes``; a child that failed as
    a whole gives no files, no rows and its one note.
    """

    drift: Path | None
    performance: Path | None
    reference_rows: int
    current_rows: int
    notes: tuple[str, ...] = ()

    @classmethod
    def skipped(cls, note: str) -> ReportFiles:
        """No report at all, for the one reason given."""
        return cls(None, None, 0, 0, (note,))

    def to_dict(self) -> dict[str, object]:
        """The child's last stdout line / the worker's ``result.json``."""
        return {
            "drift": str(self.drift) if self.drift else None,
            "performance": str(self.performance) if self.performance else None,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, text: str) -> ReportFiles:
        """Inverse of ``to_dict`` as JSON text."""
        body = json.loads(text)
        drift, performance = body["drift"], body["performance"]
        return cls(
            Path(drift) if drift else None,
            Path(performance) if performance else None,
            int(body["reference_rows"]),
            int(body["current_rows"]),
            tuple(str(n) for n in body.get("notes", ())),
        )


@dataclass(frozen=True, eq=False)
class ReportJob:
    """Reports being written by a child process; ``wait`` returns them, failures as notes.

    ``process`` is a child this job started; otherwise ``worker`` is the folder of the
    pre-started worker that took the job; with neither, ``note`` says why none started.
    ``scratch`` (the sample's folder) goes when the job ends, on every path: ``wait``, or the
    job dropped without a wait, or the process exiting (then a fresh child is killed too).
    """

    process: subprocess.Popen[str] | None = None
    worker: Path | None = None
    scratch: Path | None = None
    note: str = ""
    _end: weakref.finalize = field(init=False, repr=False)

    def __post_init__(self) -> None:
        end = weakref.finalize(self, _discard, self.scratch, self.process)
        object.__setattr__(self, "_end", end)

    def wait(self) -> ReportFiles:
        """Block until the reports are written; whatever went wrong comes back as a note."""
        try:
            return self._collect()
        except Exception as exc:  # e.g. an unreadable answer: reports never fail a window
            return ReportFiles.skipped(f"reports skipped: {_one_line(exc)}")
        finally:
            self._end()

    def _collect(self) -> ReportFiles:
        if self.process is not None:
            return _wait_child(self.process)
        if self.worker is not None:
            return _wait_worker(self.worker)
        return ReportFiles.skipped(self.note or "reports skipped: no report child was started")


def _discard(scratch: Path | None, process: subprocess.Popen[str] | None) -> None:
    """End a job: kill its child if still running (no one will read it), remove the sample."""
    if process is not None and process.poll() is None:
        process.kill()
        process.communicate()  # reaps it and closes the pipes
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


def _wait_child(process: subprocess.Popen[str]) -> ReportFiles:
    out, err = process.communicate()
    if process.returncode != 0:
        return ReportFiles.skipped(f"reports skipped: {_child_failure(process.returncode, err)}")
    return ReportFiles.from_json(out.strip().splitlines()[-1])


def _child_failure(returncode: int, stderr: str) -> str:
    """The child's last stderr line (its exception), else how it ended."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if lines:
        return lines[-1].strip()
    if returncode < 0:
        return f"report child killed by {signal.Signals(-returncode).name}"
    return f"report child exited with code {returncode}"


def _one_line(exc: BaseException) -> str:
    """``KeyError: '0'``: the exception's type and the first line of its message."""
    message = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def start_reports(params: NotebookParameters, *, current: pd.DataFrame | None = None) -> ReportJob:
    """Start writing the reports in a child process (same inputs as the monitoring notebook).

    ``current``: the window's rows already loaded by the caller; only their seeded sample is
    handed over (the same rows the child would draw from the file). A worker started by
    ``report_worker`` takes the job when there is one; else a fresh child is started. Never
    raises: a job that could not start carries its note to ``wait``.
    """
    worker = _claim_worker()
    scratch = None
    try:
        if current is not None:  # the child reads the seeded sample, not the whole window
            scratch = Path(tempfile.mkdtemp(prefix=SAMPLE_PREFIX, dir=worker))
            params = _hand_over_sample(params, current, scratch)
        if worker is not None:
            _write_json(worker / "job.json", params.as_dict())
            return ReportJob(worker=worker, scratch=scratch)
        return ReportJob(process=_start_child(params), scratch=scratch)
    except Exception as exc:  # reports are optional: the window goes on without them
        _discard(scratch, None)
        return ReportJob(note=f"reports skipped: {_one_line(exc)}")


def _hand_over_sample(
    params: NotebookParameters, frame: pd.DataFrame, folder: Path
) -> NotebookParameters:
    """Write the window's seeded sample into ``folder``; the parameters point the child at it."""
    sample = _write_sample(params.spec_path, frame, folder)
    return replace(params, current_path=str(sample), window_start="", window_end="")


def _start_child(params: NotebookParameters) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", __name__, "--job", params.to_json()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent,
    )


def _write_sample(spec_path: str, frame: pd.DataFrame, folder: Path) -> Path:
    from mlflow_monitor.spec import load_spec

    sampling = load_spec(spec_path).sampling
    path = folder / _SAMPLE_FILE
    sample_rows(frame, sampling.report_rows, sampling.seed).to_parquet(path, index=False)
    return path


def _die_with_parent() -> None:
    """Linux: the child is killed when the kernel that started it goes (a failed notebook)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# -- the pre-started worker ---------------------------------------------------------------------


@contextmanager
def report_worker(*, serve: bool = False) -> Iterator[Path | None]:
    """Start the report child now (it imports Evidently, then waits for one job); stop it after.

    The folder is published in ``$MLFLOW_MONITOR_REPORT_WORKER``, which the notebook kernel
    inherits; the first ``start_reports`` there claims it. ``serve``: the child takes job after
    job, each ``start_reports`` claiming a job folder of its own (``fleet run``'s workers).
    Nested use is a no-op.
    """
    if os.environ.get(WORKER_ENV):
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="mlflow-monitor-reports-"))
    if serve:
        (folder / _SERVING).touch()
    with open(folder / "stderr", "w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow_monitor.adapters.evidently_reports",
                "--serve" if serve else "--worker",
                str(folder),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_die_with_parent,
        )
    (folder / "pid").write_text(str(process.pid))
    os.environ[WORKER_ENV] = str(folder)
    try:
        yield folder
    finally:
        os.environ.pop(WORKER_ENV, None)
        if process.poll() is None:
            process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _claim_worker() -> Path | None:
    """The worker's folder if there is one and no one took it yet (one job per worker); for a
    serving worker, a new job folder of its own inside it."""
    folder = os.environ.get(WORKER_ENV)
    if not folder or not Path(folder, "pid").is_file():
        return None
    if Path(folder, _SERVING).is_file():
        job = Path(folder, f"{_JOB_PREFIX}{uuid.uuid4().hex}")
        job.mkdir()
        (job / "pid").write_text(Path(folder, "pid").read_text())
        (job / "stderr").symlink_to(Path(folder, "stderr"))
        return job
    try:
        os.close(os.open(Path(folder, "claimed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except OSError:
        return None
    return Path(folder)


def _wait_worker(folder: Path) -> ReportFiles:
    result, pid = folder / "result.json", int((folder / "pid").read_text())
    while not result.exists():
        if not process_alive(pid) and not result.exists():
            lines = [x for x in (folder / "stderr").read_text().splitlines() if x.strip()]
            return ReportFiles.skipped(
                f"reports skipped: {lines[-1].strip() if lines else 'report worker died'}"
            )
        time.sleep(_POLL_SECONDS)
    body = json.loads(result.read_text())
    if "error" in body:
        return ReportFiles.skipped(f"reports skipped: {body['error']}")
    return ReportFiles.from_json(json.dumps(body))


def _write_json(path: Path, body: object) -> None:
    """Write then rename, so the reader never sees half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(body))
    os.replace(partial, path)


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
    """The labelled rows, labels and predictions in NumPy dtypes.

    Labels joined from the prediction log are nullable (``Int64``, ``boolean``: unlabelled rows
    are missing); Evidently 0.7 reads such a column's classes as text and fails with
    ``KeyError: '0'``, which skipped the classification report of every ``--from-log`` and
    ``fleet run`` window. Once the unlabelled rows are gone they convert exactly.
    """
    target = spec.columns.target
    if not target or target not in frame.columns:
        return frame.iloc[0:0]
    labelled = frame.loc[frame[target].notna()]
    plain: dict[str, np.ndarray] = {}
    for name in (target, spec.columns.prediction):
        column = labelled[name] if name and name in labelled.columns else None
        numpy_dtype = getattr(column.dtype, "numpy_dtype", None) if column is not None else None
        if column is not None and numpy_dtype is not None and not column.isna().any():
            plain[str(name)] = column.to_numpy(dtype=numpy_dtype)  # Int64 -> int64, boolean -> bool
    return labelled.assign(**plain) if plain else labelled


def write_reports(
    spec: MonitorSpec,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out_dir: str | Path,
    *,
    results: WindowResults | None = None,
) -> ReportFiles:
    """Write ``data_drift.html`` and ``classification.html``/``regression.html`` into ``out_dir``.

    Each report is attempted on its own: one that raises is skipped with a note, the other is
    still written. The performance report is also skipped (no note: nothing to show) when either
    side has no labels. ``results`` (the window's result): its verdicts head the reports now;
    without it they say "see results.json" until ``attach_verdicts``.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows, seed = spec.sampling.report_rows, spec.sampling.seed
    ref = sample_rows(reference, rows, seed)
    cur = sample_rows(current, rows, seed)
    drift, drift_notes = _attempt(
        folder / "data_drift.html", lambda path: _drift_report(spec, ref, cur, path)
    )
    performance, performance_notes = _attempt(
        folder / _performance_name(spec), lambda path: _performance_report(spec, ref, cur, path)
    )
    files = ReportFiles(drift, performance, len(ref), len(cur), drift_notes + performance_notes)
    return files if results is None else attach_verdicts(files, results)


def _attempt(
    path: Path, write: Callable[[Path], Path | None]
) -> tuple[Path | None, tuple[str, ...]]:
    """Write one report; an exception removes any partial file and becomes its one-line note."""
    try:
        return write(path), ()
    except Exception as exc:  # Evidently fails on edge-case data: the report is optional
        path.unlink(missing_ok=True)
        return None, (f"{path.name} skipped: {_one_line(exc)}",)


def _drift_report(spec: MonitorSpec, ref: pd.DataFrame, cur: pd.DataFrame, path: Path) -> Path:
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in _drift_columns(spec) if c in ref.columns and c in cur.columns]
    plain = _definition(spec, with_task=False)
    snapshot = Report([DataDriftPreset(columns=columns, include_tests=False)]).run(
        Dataset.from_pandas(cur[columns], data_definition=plain),  # type: ignore[arg-type]
        Dataset.from_pandas(ref[columns], data_definition=plain),  # type: ignore[arg-type]
    )
    board = _distributions_only(_dashboard(snapshot))
    label = _sample_label(spec, len(ref), len(cur), "rows")
    path.write_text(_page(board, _header("Data drift", label)), encoding="utf-8")
    return path


def _performance_name(spec: MonitorSpec) -> str:
    return "regression.html" if spec.task == "regression" else "classification.html"


def _performance_report(
    spec: MonitorSpec, ref: pd.DataFrame, cur: pd.DataFrame, path: Path
) -> Path | None:
    from evidently import Dataset, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    ref_l, cur_l = _labelled(ref, spec), _labelled(cur, spec)
    if ref_l.empty or cur_l.empty:
        return None
    definition = _definition(spec, with_task=True)
    regression = spec.task == "regression"
    preset = RegressionPreset() if regression else ClassificationPreset()  # tests: not rendered
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur_l, data_definition=definition),  # type: ignore[arg-type]
        Dataset.from_pandas(ref_l, data_definition=definition),  # type: ignore[arg-type]
    )
    label = _sample_label(spec, len(ref_l), len(cur_l), "labelled rows")
    title = "Regression performance" if regression else "Classification performance"
    path.write_text(_page(_dashboard(snapshot), _header(title, label)), encoding="utf-8")
    return path


# -- the page: the tool's verdicts over Evidently's charts, its data escaped --------------------

_VERDICTS_START = "<!-- mlflow-monitor:verdicts -->"
_VERDICTS_END = "<!-- /mlflow-monitor:verdicts -->"
_NO_DATA = "<!-- no embedded data -->"  # Evidently's template with embed_data=False
_UNATTACHED = (
    '<p class="mm-unattached">This window\'s verdicts, computed on all of its rows, are in '
    "results.json.</p>"
)
_STYLE = (
    "<style>.mm-report{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;"
    "margin:1em 2em;color:#222}.mm-report table{border-collapse:collapse;margin:.4em 0 1em;"
    "font-size:.9em}.mm-report th,.mm-report td{border:1px solid #ccc;padding:.2em .6em;"
    "text-align:left}.mm-report th{background:#f3f3f3}.mm-sample{color:#555;font-style:italic}"
    ".mm-warn{background:#ffe0b2}.mm-fail{background:#ffcdd2}</style>"
)
# JSON escapes for what an HTML parser reads inside a <script>: same values, no tags.
_SCRIPT_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
# What the drift report keeps of Evidently's drift table (``_distributions_only``).
_DRIFT_FIELDS = frozenset(
    {"column_name", "column_type", "reference_distribution", "current_distribution"}
)
_DETAIL_TITLES = {"DATA DISTRIBUTION": "DATA DISTRIBUTION", "DATA DRIFT": "MEAN BY ROW ORDER"}


@dataclass(frozen=True)
class _Board:
    """Evidently's widgets and the detail graphs they open, as JSON values."""

    widgets: list[dict[str, Any]]
    graphs: dict[str, Any]


def _dashboard(snapshot: Any) -> _Board:
    """What ``Snapshot.get_html_str`` renders (Evidently 0.7 ``render_widgets``), without tests.

    A preset's tests are Evidently's pass/fail on the sample: ``_tests_widgets`` is left out
    (``ClassificationPreset(include_tests=False)`` raises in Evidently 0.7.23).
    """
    from evidently.legacy.model.widget import AdditionalGraphInfo

    widgets = list(snapshot._widgets)
    graphs: dict[str, Any] = {}
    for widget in widgets:
        for graph in widget.get_additional_graphs():
            info = graph.params if isinstance(graph, AdditionalGraphInfo) else graph
            graphs[str(graph.id)] = info.dict() if hasattr(info, "dict") else info
    return _Board([w.dict() for w in widgets], graphs)


def _distributions_only(board: _Board) -> _Board:
    """Evidently's drift table cut to what it draws: column, type, both distributions, details.

    A whitelist (module docstring): Evidently's verdicts on the sample and anything unknown are
    left out. A report without that table is a ``ValueError`` (the report's note).
    """
    table = next((w for w in board.widgets if _is_drift_table(w)), None)
    if table is None:
        raise ValueError("Evidently's drift table is not in the report")
    params = table["params"]
    rows = [_distribution_row(row) for row in params["data"]]
    shown = {part["id"] for row in rows for part in row["details"]["parts"]}
    kept = {
        **table,
        "title": "Distributions in the seeded samples: reference and window",
        "alerts": [],
        "insights": [],
        "tabs": [],
        "widgets": [],
        "params": {
            **params,
            "columns": [c for c in params["columns"] if c.get("field") in _DRIFT_FIELDS],
            "data": rows,
        },
        "additionalGraphs": [g for g in table["additionalGraphs"] if g.get("id") in shown],
    }
    return _Board([kept], {k: v for k, v in board.graphs.items() if k in shown})


def _is_drift_table(widget: Mapping[str, Any]) -> bool:
    columns = (widget.get("params") or {}).get("columns") or []
    return widget.get("type") == "big_table" and any(
        c.get("field") == "column_name" for c in columns
    )


def _distribution_row(row: Mapping[str, Any]) -> dict[str, Any]:
    parts = (row.get("details") or {}).get("parts") or []
    return {
        **{k: v for k, v in row.items() if k in _DRIFT_FIELDS},
        "details": {
            "parts": [
                {**p, "title": _DETAIL_TITLES[p["title"]]}
                for p in parts
                if p.get("title") in _DETAIL_TITLES
            ]
        },
    }


def _sample_label(spec: MonitorSpec, reference: int, current: int, rows: str) -> str:
    sampling = spec.sampling
    return (
        f"Evidently's charts and numbers below are drawn from a seeded sample of {reference:,} "
        f"{rows} of the reference and {current:,} of the window (sampling.report_rows "
        f"{sampling.report_rows:,}, seed {sampling.seed}); the verdicts above are on all rows."
    )


def _header(title: str, label: str) -> str:
    """The tool's part of the page: title, verdicts (to be attached), the sample's label."""
    return (
        f'<section class="mm-report">{_STYLE}<h1>{escape(title)}</h1>\n'
        f"{_VERDICTS_START}{_UNATTACHED}{_VERDICTS_END}\n"
        f'<p class="mm-sample">{escape(label)}</p></section>\n'
    )


def _page(board: _Board, header: str) -> str:
    """Evidently's one-file HTML of ``board`` with ``header`` above it; the data script-safe."""
    from evidently.legacy.model.dashboard import DashboardInfo
    from evidently.legacy.renderers.html_widgets import group_widget
    from evidently.legacy.utils.dashboard import TemplateParams, file_html_template

    board_id = f"metric_{uuid.uuid4().hex}"
    empty = DashboardInfo(name="Report", widgets=[])
    page = file_html_template(TemplateParams(board_id, empty, {}, embed_data=False))
    group = group_widget(title="", widgets=[]).dict()
    group.pop("additionalGraphs", None)  # as Evidently's dashboard_info_to_json
    info = {"name": "Report", "widgets": [{**group, "widgets": board.widgets}]}
    data = (
        f"<script>\n    var {board_id} = {_script_json(info)};\n"
        f"    var additional_graphs_{board_id} = {_script_json(board.graphs)};\n</script>"
    )
    root = f'<div id="root_{board_id}">'
    return _replace_first(_replace_first(page, _NO_DATA, data), root, header + root)


def _script_json(value: object) -> str:
    from evidently.legacy.utils.numpy_encoder import NumpyEncoder

    return json.dumps(value, cls=NumpyEncoder).translate(_SCRIPT_ESCAPES)


def _replace_first(text: str, old: str, new: str) -> str:
    at = text.find(old)
    if at < 0:
        raise ValueError(f"Evidently's HTML template changed: {old!r} not found")
    return text[:at] + new + text[at + len(old) :]


# -- the tool's verdicts, attached in the kernel -------------------------------------------------


def attach_verdicts(files: ReportFiles, results: WindowResults) -> ReportFiles:
    """Head each written report with the tool's verdicts from ``results`` (all rows).

    ``results``: the window's result or ``results.json`` read back. The drift report gets the
    drift verdicts, the performance report the performance checks. Never raises: a report that
    could not take them keeps its "see results.json" line and the reason is a note.
    """
    notes: list[str] = []
    for path, section in ((files.drift, _drift_verdicts), (files.performance, _checks_verdicts)):
        if path is None:
            continue
        try:
            _fill_verdicts(path, section(results))
        except Exception as exc:  # reports are optional: the window goes on
            notes.append(f"{path.name}: verdicts not attached: {_one_line(exc)}")
    return replace(files, notes=files.notes + tuple(notes))


def _fill_verdicts(path: Path, section: str) -> None:
    """Replace what is between the verdict markers (data cannot hold them: ``<`` is escaped)."""
    page = path.read_text(encoding="utf-8")
    start = page.index(_VERDICTS_START) + len(_VERDICTS_START)
    end = page.index(_VERDICTS_END, start)
    partial = path.with_suffix(".partial")
    partial.write_text(page[:start] + section + page[end:], encoding="utf-8")
    os.replace(partial, path)


_DRIFT_SECTIONS = (("drift", "Feature drift", "drift"),
                   ("prediction_drift", "Prediction drift", "drift/prediction"))  # fmt: skip
_DRIFT_HEAD = (
    "Column", "Method", "Score", "Threshold", "Drifted", "Reference rows", "Window rows", "Check",
)  # fmt: skip
_CHECK_HEAD = ("Check", "Value", "Bound", "Status", "Message")


def _drift_verdicts(results: WindowResults) -> str:
    from mlflow_monitor.stats.drift import DriftReport

    statistics = results.statistics()
    outcomes = {o.check_id: o for o in results.outcomes}
    parts = [_verdicts_title(results)]
    share = outcomes.get("drift/share_drifted")
    if share is not None:
        parts.append(
            f'<p class="mm-share mm-{escape(share.status)}" data-status="{escape(share.status)}">'
            f"Share of drifted columns: {escape(share.message)} &mdash; "
            f"{escape(share.status)}</p>"
        )
    for key, title, prefix in _DRIFT_SECTIONS:
        raw = statistics.get(key)
        if isinstance(raw, Mapping):
            report = DriftReport.from_dict(raw)
            parts.append(_drift_table(title, report, outcomes, prefix))
    return "\n".join(parts)


def _verdicts_title(results: WindowResults) -> str:
    return (
        f"<h2>The tool's verdicts, on all {results.rows:,} rows of the window "
        "(as in results.json)</h2>"
    )


def _drift_table(
    title: str, report: DriftReport, outcomes: Mapping[str, CheckOutcome], prefix: str
) -> str:
    rows = "".join(_drift_row(c, outcomes.get(f"{prefix}/{c.column}")) for c in report.columns)
    return (
        f"<h3>{escape(title)}</h3>"
        f'<table class="mm-verdicts" data-section="{escape(prefix)}">'
        f"{_head(_DRIFT_HEAD)}{rows}</table>"
    )


def _drift_row(c: ColumnDrift, outcome: CheckOutcome | None) -> str:
    status = outcome.status if outcome is not None else ""
    cells = (
        c.column,
        c.method,
        _number(c.score),
        _number(c.threshold),
        _drifted(c),
        f"{c.reference_rows:,}",
        f"{c.current_rows:,}",
        status,
    )
    data = {
        "column": c.column,
        "method": c.method,
        "score": json.dumps(c.score),
        "threshold": json.dumps(c.threshold),
        "drifted": json.dumps(c.drifted),
        "tested": json.dumps(c.status == "ok"),
        "reference-rows": str(c.reference_rows),
        "current-rows": str(c.current_rows),
        "status": status,
    }
    return _row(cells, data, status)


def _drifted(c: ColumnDrift) -> str:
    if c.status != "ok":
        return f"not tested ({c.note or 'no usable values'})"
    return "yes" if c.drifted else "no"


def _checks_verdicts(results: WindowResults) -> str:
    checks = [o for o in results.outcomes if o.kind == "performance"]
    if not checks:
        return _verdicts_title(results) + "<p>No performance check in results.json.</p>"
    rows = "".join(
        _row(
            (o.check_id, _number(o.value), o.threshold.text() if o.threshold else "", o.status,
             o.message),
            {"check": o.check_id, "value": json.dumps(o.value), "status": o.status},
            o.status,
        )
        for o in checks
    )  # fmt: skip
    return (
        f'{_verdicts_title(results)}<table class="mm-verdicts" data-section="performance">'
        f"{_head(_CHECK_HEAD)}{rows}</table>"
    )


def _head(names: Sequence[str]) -> str:
    return "<tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"


def _row(cells: Sequence[str], data: Mapping[str, str], status: str) -> str:
    attrs = "".join(f' data-{k}="{escape(v)}"' for k, v in data.items())
    tds = "".join(f"<td>{escape(cell)}</td>" for cell in cells)
    return f'<tr class="mm-{escape(status)}"{attrs}>{tds}</tr>'


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _job(params: NotebookParameters) -> dict[str, object]:
    """Load the inputs like the notebook does and write the reports; the files as JSON."""
    import pandas as pd

    from mlflow_monitor.adapters.sources import files as data
    from mlflow_monitor.spec import load_spec

    spec = load_spec(params.spec_path)
    start = data.parse_time(params.window_start, "window-start")
    end = data.parse_time(params.window_end, "window-end")
    frame = data.load_window(spec, params.current_path, start, end)
    reference = pd.read_parquet(Path(params.baseline_dir) / SAMPLE_FILE)
    out_dir = Path(params.output_dir) / REPORTS_DIR
    return write_reports(spec, reference, frame, out_dir).to_dict()


def _serve(folder: Path) -> int:
    """Worker entry: import Evidently now, wait for ``job.json``, write ``result.json``."""
    try:
        _load_libraries()  # the slow part, done before the job arrives
        job = folder / "job.json"
        while not job.exists():
            time.sleep(_POLL_SECONDS)
        body = _job(NotebookParameters.from_json(job.read_text()))
    except BaseException as exc:  # the kernel waiting on result.json gets the one line
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        _write_json(folder / "result.json", {"error": line})
        return 1
    _write_json(folder / "result.json", body)
    return 0


def _serve_jobs(folder: Path) -> int:
    """Serving worker entry: import Evidently once, then write each job folder's reports in
    the order they were claimed; runs until the process that started it stops it."""
    _load_libraries()
    while True:
        pending = [
            job.parent
            for job in folder.glob(f"{_JOB_PREFIX}*/job.json")
            if not (job.parent / "result.json").exists()
        ]
        if not pending:
            time.sleep(_POLL_SECONDS)
            continue
        job = min(pending, key=lambda p: p.stat().st_mtime_ns)
        try:
            body = _job(NotebookParameters.from_json((job / "job.json").read_text()))
        except Exception as exc:  # one window's reports fail; the worker serves the next
            body = {"error": traceback.format_exception_only(type(exc), exc)[-1].strip()}
        _write_json(job / "result.json", body)
        gc.collect()


def _load_libraries() -> None:
    """Import Evidently and the loaders with the cyclic collector paused, then freeze them.

    Evidently's import builds many thousands of long-lived objects that the collector walks again
    and again while they load: 1.95 s paused instead of 2.5-2.8 s (measured, 2 cores).
    """
    gc.disable()
    try:
        import evidently.presets  # noqa: F401

        from mlflow_monitor.adapters.sources import files as data  # noqa: F401
    finally:
        gc.freeze()
        gc.enable()


def _main(argv: Sequence[str]) -> int:
    """Child-process entry: ``--worker FOLDER``, or ``--job PARAMETERS_JSON`` (prints the files)."""
    if argv[:1] == ["--worker"]:
        return _serve(Path(argv[1]))
    if argv[:1] == ["--serve"]:
        return _serve_jobs(Path(argv[1]))
    _load_libraries()
    print(json.dumps(_job(NotebookParameters.from_json(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

"""reports.py: Evidently HTML on bounded seeded samples, in-process and from the child process.

Reports are optional: a failing report, child or worker is a note, never an exception, and the
window's sample folder is gone on every path (failure, no wait, a killed kernel).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.adapters import evidently_reports
from mlflow_monitor.adapters.evidently_reports import (
    SAMPLE_PREFIX,
    WORKER_ENV,
    ReportFiles,
    attach_verdicts,
    report_worker,
    sample_rows,
    start_reports,
    write_reports,
)
from mlflow_monitor.adapters.notebook_parameters import NotebookParameters
from mlflow_monitor.adapters.processes import process_alive
from mlflow_monitor.contract import WindowResults
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.workflows import demo


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    body = yaml.safe_load(demo.CHURN_SPEC.format(model="churn"))
    body["sampling"]["report_rows"] = 300
    return parse_spec(body)


def _scored(rows: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
    frame = demo.make_churn(rows, seed=seed, drift=drift)
    frame["churn_score"] = 1 / (1 + np.exp(-0.05 * (frame["monthly_charges"] - 70)))
    frame["prediction"] = (frame["churn_score"] >= 0.5).astype(np.int64)
    return frame


def test_sample_is_bounded_and_seeded() -> None:
    frame = _scored(1000, seed=1)
    first, again = sample_rows(frame, 300, seed=5), sample_rows(frame, 300, seed=5)
    assert len(first) == 300
    assert first["customer_id"].tolist() == again["customer_id"].tolist()
    assert len(sample_rows(frame, 5000, seed=5)) == 1000


def test_reports_are_written_on_samples(spec: MonitorSpec, tmp_path: Path) -> None:
    files = write_reports(spec, _scored(1000, 1), _scored(2000, 2, drift=0.7), tmp_path)
    assert (files.reference_rows, files.current_rows, files.notes) == (300, 300, ())
    assert files.drift is not None and files.performance == tmp_path / "classification.html"
    drift, performance = files.drift.read_text(), files.performance.read_text()
    assert len(drift) > 100_000 and "monthly_charges" in drift
    assert len(performance) > 100_000 and "ROC" in performance and "Recall" in performance


def test_no_labels_means_no_performance_report(spec: MonitorSpec, tmp_path: Path) -> None:
    current = _scored(500, 3).drop(columns=["churned"])
    files = write_reports(spec, _scored(500, 1), current, tmp_path)
    assert files.performance is None
    assert not (tmp_path / "classification.html").exists()


def test_labels_joined_from_the_log_give_the_classification_report(
    spec: MonitorSpec, tmp_path: Path
) -> None:
    """The log's label join gives nullable ``Int64`` labels (NA where unlabelled)."""
    current = _scored(800, 2)
    current["churned"] = current["churned"].astype("Int64")
    current.loc[current.index[:100], "churned"] = pd.NA
    files = write_reports(spec, _scored(500, 1), current, tmp_path)
    assert files.notes == ()
    assert files.performance == tmp_path / "classification.html"
    assert "ROC" in files.performance.read_text()


def test_one_class_window_skips_only_the_classification_report(
    spec: MonitorSpec, tmp_path: Path
) -> None:
    current = _scored(500, 2)
    current["churned"] = 1  # Evidently 0.7's quality-by-class metric raises KeyError: '0'
    files = write_reports(spec, _scored(500, 1), current, tmp_path)
    assert files.notes == ("classification.html skipped: KeyError: '0'",)
    assert ReportFiles.from_json(json.dumps(files.to_dict())) == files  # as the child hands it
    assert files.performance is None and not (tmp_path / "classification.html").exists()
    assert (
        files.drift == tmp_path / "data_drift.html" and "monthly_charges" in files.drift.read_text()
    )


def test_constant_columns_are_reported(spec: MonitorSpec, tmp_path: Path) -> None:
    reference, current = _scored(500, 1), _scored(500, 2)
    for frame in (reference, current):
        frame["monthly_charges"], frame["region"] = 50.0, "north"
    files = write_reports(spec, reference, current, tmp_path)
    assert files.notes == ()
    assert files.drift is not None and files.performance is not None


def test_an_empty_column_skips_only_the_drift_report(spec: MonitorSpec, tmp_path: Path) -> None:
    current = _scored(500, 2)
    current["age"] = np.nan
    files = write_reports(spec, _scored(500, 1), current, tmp_path)
    assert files.notes == (
        "data_drift.html skipped: ValueError: An empty column 'age' was provided for drift "
        "calculation in the current dataset.",
    )
    assert files.drift is None and not (tmp_path / "data_drift.html").exists()
    assert files.performance == tmp_path / "classification.html"


def test_verdicts_that_cannot_be_attached_are_a_note(tmp_path: Path) -> None:
    page = tmp_path / "data_drift.html"
    page.write_text("<html>no markers: not a page of ours</html>")
    results = WindowResults("churn", "1", None, "2025-01-01T00:00:00Z", 10, "healthy", (), ())
    files = attach_verdicts(ReportFiles(page, None, 10, 10, ("earlier note",)), results)
    assert files.notes == (
        "earlier note",
        "data_drift.html: verdicts not attached: ValueError: substring not found",
    )
    assert page.read_text() == "<html>no markers: not a page of ours</html>"


def test_an_evidently_without_its_drift_table_gives_no_charts() -> None:
    """The charts are a whitelist: a layout it does not know is refused, not shown."""
    counter = {"type": "counter", "params": {"counters": [{"label": "Dataset Drift is detected"}]}}
    with pytest.raises(ValueError, match="drift table is not in the report"):
        evidently_reports._distributions_only(evidently_reports._Board([counter], {}))


def _job_inputs(spec: MonitorSpec, tmp_path: Path) -> NotebookParameters:
    spec_path = tmp_path / "monitor.yaml"
    spec_path.write_text(spec.to_yaml())
    return NotebookParameters(
        spec_path=str(spec_path),
        model_version="1",
        current_path=str(tmp_path / "window.parquet"),
        baseline_dir=str(tmp_path / "baseline"),
        output_dir=str(tmp_path / "out"),
    )


@pytest.fixture
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders of this process and its children go to a folder of the test's own."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.delenv(WORKER_ENV, raising=False)
    return folder


def _samples_left(folder: Path) -> list[Path]:
    return list(folder.rglob(f"{SAMPLE_PREFIX}*"))


def test_killed_child_is_a_note_and_the_sample_is_removed(
    spec: MonitorSpec, tmp_path: Path, own_temp: Path
) -> None:
    job = start_reports(_job_inputs(spec, tmp_path), current=_scored(500, 2))
    assert job.process is not None and job.scratch is not None
    assert _samples_left(own_temp) == [job.scratch]  # the window's rows, ids included
    job.process.kill()
    files = job.wait()
    assert files == ReportFiles.skipped("reports skipped: report child killed by SIGKILL")
    assert _samples_left(own_temp) == []


def test_job_never_waited_for_is_cleaned_up(
    spec: MonitorSpec, tmp_path: Path, own_temp: Path
) -> None:
    job = start_reports(_job_inputs(spec, tmp_path), current=_scored(500, 2))
    assert job.process is not None
    pid = job.process.pid
    assert _samples_left(own_temp) and process_alive(pid)
    del job  # e.g. the notebook cell raised before wait()
    gc.collect()
    assert _samples_left(own_temp) == [] and not process_alive(pid)


def test_sample_that_cannot_be_written_is_a_note(
    spec: MonitorSpec, tmp_path: Path, own_temp: Path
) -> None:
    current = _scored(3, 2)
    current["customer_id"] = [1, "a", 2.5]  # parquet refuses a column of mixed types
    job = start_reports(_job_inputs(spec, tmp_path), current=current)
    assert job.process is None and job.worker is None
    files = job.wait()
    assert files.drift is None and files.performance is None and len(files.notes) == 1
    assert files.notes[0].startswith("reports skipped: ArrowInvalid: ")
    assert "column customer_id" in files.notes[0]
    assert _samples_left(own_temp) == []


def test_prestarted_worker_takes_the_job_and_reports_its_error(
    spec: MonitorSpec, tmp_path: Path, own_temp: Path
) -> None:
    missing = replace(_job_inputs(spec, tmp_path), spec_path=str(tmp_path / "nope.yaml"))
    with report_worker() as folder:
        assert folder is not None
        job = start_reports(missing)
        assert job.worker == folder and job.process is None
        again = start_reports(missing)
        assert again.process is not None  # one job per worker: the next gets a fresh child
        notes = job.wait().notes, again.wait().notes
    line = f"mlflow_monitor.errors.SpecError: {tmp_path / 'nope.yaml'}: spec file not found"
    assert notes == ((f"reports skipped: {line}",), (f"reports skipped: {line}",))
    assert not folder.exists() and WORKER_ENV not in os.environ


_KILLED_KERNEL = textwrap.dedent(
    """
    import os, signal, sys
    import pandas as pd
    from mlflow_monitor.adapters.evidently_reports import start_reports
    from mlflow_monitor.adapters.notebook_parameters import NotebookParameters

    job = start_reports(
        NotebookParameters.from_json(sys.argv[1]), current=pd.read_parquet(sys.argv[2])
    )
    print(job.scratch, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # what stopping a shipped notebook's kernel does
    """
)


def test_sample_goes_with_the_worker_when_the_kernel_is_killed(
    spec: MonitorSpec, tmp_path: Path, own_temp: Path
) -> None:
    params = _job_inputs(spec, tmp_path)
    window = tmp_path / "window.parquet"
    _scored(500, 2).to_parquet(window)
    with report_worker() as folder:
        assert folder is not None
        kernel = subprocess.run(
            [sys.executable, "-c", _KILLED_KERNEL, params.to_json(), str(window)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert kernel.returncode == -9, kernel.stderr
        scratch = Path(kernel.stdout.strip())
        assert scratch.parent == folder and scratch.name.startswith(SAMPLE_PREFIX)
    assert _samples_left(own_temp) == [] and not folder.exists()

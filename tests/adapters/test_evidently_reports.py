"""reports.py: Evidently HTML on bounded seeded samples, in-process and from the child process."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.adapters.evidently_reports import (
    WORKER_ENV,
    report_worker,
    sample_rows,
    start_reports,
    write_reports,
)
from mlflow_monitor.errors import MonitorError
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
    assert (files.reference_rows, files.current_rows) == (300, 300)
    assert files.performance == tmp_path / "classification.html"
    drift, performance = files.drift.read_text(), files.performance.read_text()
    assert len(drift) > 100_000 and "monthly_charges" in drift
    assert len(performance) > 100_000 and "ROC" in performance and "Recall" in performance


def test_no_labels_means_no_performance_report(spec: MonitorSpec, tmp_path: Path) -> None:
    current = _scored(500, 3).drop(columns=["churned"])
    files = write_reports(spec, _scored(500, 1), current, tmp_path)
    assert files.performance is None
    assert not (tmp_path / "classification.html").exists()


def test_child_process_error_is_one_line(tmp_path: Path) -> None:
    job = start_reports(str(tmp_path / "nope.yaml"), str(tmp_path), "w.parquet", "", "", tmp_path)
    with pytest.raises(MonitorError) as err:
        job.wait()
    assert str(err.value) == (
        f"reports: mlflow_monitor.errors.SpecError: {tmp_path / 'nope.yaml'}: spec file not found"
    )


def test_prestarted_worker_takes_the_job_and_reports_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WORKER_ENV, raising=False)
    with report_worker() as folder:
        assert folder is not None
        job = start_reports(
            str(tmp_path / "nope.yaml"), str(tmp_path), "w.parquet", "", "", tmp_path
        )
        assert job.worker == folder and job.process is None
        again = start_reports(
            str(tmp_path / "nope.yaml"), str(tmp_path), "w.parquet", "", "", tmp_path
        )
        assert again.process is not None  # one job per worker: the next gets a fresh child
        with pytest.raises(MonitorError) as err:
            job.wait()
        with pytest.raises(MonitorError):
            again.wait()
    assert str(err.value) == (
        f"reports: mlflow_monitor.errors.SpecError: {tmp_path / 'nope.yaml'}: spec file not found"
    )
    assert not folder.exists() and WORKER_ENV not in os.environ

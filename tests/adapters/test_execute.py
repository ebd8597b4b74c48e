"""notebooks.py: parameters checked before execution, current-env kernel, one-line cell errors
with their parts and the partly executed notebook; monitor.ipynb records skipped reports."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.adapters.baseline_files import save_baseline
from mlflow_monitor.adapters.evidently_reports import SAMPLE_PREFIX, WORKER_ENV, report_worker
from mlflow_monitor.adapters.notebooks.execute import (
    NotebookParameters,
    notebook_parameters,
    run_notebook,
    shipped_notebook,
)
from mlflow_monitor.contract import REPORTS_DIR, RESULTS_FILE
from mlflow_monitor.errors import NotebookError
from mlflow_monitor.spec import parse_spec
from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
from mlflow_monitor.workflows import demo
from tests.fixtures.notebooks import write_notebook

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _params(tmp_path: Path) -> NotebookParameters:
    return NotebookParameters(
        spec_path="monitor.yaml",
        model_version="1",
        current_path="window.parquet",
        baseline_dir="baseline",
        window_start="",
        window_end="",
        output_dir=str(tmp_path),
    )


def _notebook(path: Path, *sources: str) -> Path:
    return write_notebook(path, 'output_dir = "."\nseconds = 0', *sources)


@pytest.mark.parametrize("name", ["monitor.ipynb", "baseline.ipynb"])
def test_shipped_notebooks_declare_their_parameters(name: str) -> None:
    declared = notebook_parameters(shipped_notebook(name))
    assert {"spec_path", "model_version", "baseline_dir", "output_dir"} <= declared


def test_monitor_notebook_takes_exactly_the_runner_parameters(tmp_path: Path) -> None:
    declared = notebook_parameters(shipped_notebook("monitor.ipynb"))
    assert declared == set(_params(tmp_path).as_dict())


def test_notebook_without_parameters_cell_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as err:
        run_notebook(
            FIXTURES / "no_parameters.ipynb",
            tmp_path / "out.ipynb",
            _params(tmp_path),
            timeout_seconds=60,
        )
    assert str(err.value) == "no_parameters.ipynb: no cell tagged 'parameters'"
    assert not (tmp_path / "out.ipynb").exists()


def test_undeclared_parameter_is_refused_before_execution(tmp_path: Path) -> None:
    source = _notebook(tmp_path / "small.ipynb", "x = 1")
    with pytest.raises(NotebookError) as err:
        run_notebook(
            source, tmp_path / "out.ipynb", {"output_dir": ".", "token": "x"}, timeout_seconds=60
        )
    assert str(err.value) == "small.ipynb: parameters cell does not declare token"
    assert not (tmp_path / "out.ipynb").exists()


@pytest.mark.integration
def test_runs_on_this_interpreter(tmp_path: Path) -> None:
    source = _notebook(
        tmp_path / "which.ipynb",
        "import sys\nfrom pathlib import Path\n"
        "Path(output_dir, 'python.txt').write_text(sys.executable)",
    )
    done = run_notebook(
        source, tmp_path / "out" / "which.ipynb", {"output_dir": str(tmp_path)}, timeout_seconds=120
    )
    assert Path(tmp_path / "python.txt").read_text() == sys.executable
    assert done.path.is_file() and done.name == "which"


@pytest.mark.integration
def test_cell_error_is_one_line_with_its_parts_and_the_executed_notebook(tmp_path: Path) -> None:
    out = tmp_path / "broken.ipynb"
    out.write_text("stale copy of an earlier run")
    with pytest.raises(NotebookError) as err:
        run_notebook(FIXTURES / "broken.ipynb", out, _params(tmp_path), timeout_seconds=120)
    error = err.value
    assert str(error) == "broken.ipynb cell 4: ZeroDivisionError: division by zero"
    assert (error.notebook, error.cell_index) == ("broken.ipynb", 4)
    assert (error.ename, error.evalue, error.output_path) == (
        "ZeroDivisionError",
        "division by zero",
        out,
    )
    failed = [c for c in nbformat.read(out, as_version=4).cells if c.get("outputs")]
    assert len(failed) == 1 and failed[0].source == "share = rows / 0"
    (output,) = failed[0].outputs
    assert (output.ename, output.evalue) == ("ZeroDivisionError", "division by zero")
    assert "share = rows / 0" in re.sub(r"\x1b\[[0-9;]*m", "", "".join(output.traceback))


@pytest.mark.integration
def test_timeout_is_a_notebook_error(tmp_path: Path) -> None:
    source = _notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
    with pytest.raises(NotebookError) as err:
        run_notebook(source, tmp_path / "out.ipynb", {"output_dir": "."}, timeout_seconds=3)
    assert str(err.value) == ("slow.ipynb: a cell timed out after 3s (notebooks.timeout_seconds)")
    assert err.value.notebook == "slow.ipynb" and err.value.output_path == tmp_path / "out.ipynb"
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].source.endswith("(60)")


def _scored(rows: int, seed: int) -> pd.DataFrame:
    frame = demo.make_churn(rows, seed=seed)
    frame["churn_score"] = 1 / (1 + np.exp(-0.05 * (frame["monthly_charges"] - 70)))
    frame["prediction"] = (frame["churn_score"] >= 0.5).astype(np.int64)
    return frame


@pytest.mark.integration
def test_monitor_notebook_records_a_skipped_report_as_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.delenv(WORKER_ENV, raising=False)
    body = yaml.safe_load(demo.CHURN_SPEC.format(model="churn"))
    body["sampling"]["report_rows"] = 300
    del body["card"]
    spec = parse_spec(body)
    params = NotebookParameters(
        spec_path=str(tmp_path / "monitor.yaml"),
        model_version="1",
        current_path=str(tmp_path / "window.parquet"),
        baseline_dir=str(tmp_path / "baseline"),
        output_dir=str(tmp_path / "out"),
    )
    Path(params.spec_path).write_text(spec.to_yaml())
    save_baseline(build_baseline_from_frame(spec, _scored(2_000, 1)), params.baseline_dir)
    window = _scored(1_000, 2)
    window["churned"] = 1  # every label one class: Evidently's classification report raises
    window.to_parquet(params.current_path)
    out = Path(params.output_dir)
    with report_worker():  # as under `mlflow-monitor run`
        run_notebook(
            shipped_notebook("monitor.ipynb"), out / "monitor.ipynb", params, timeout_seconds=600
        )
    note = "classification.html skipped: KeyError: '0'"
    assert json.loads((out / RESULTS_FILE).read_text())["notes"][-1] == note
    assert (out / REPORTS_DIR / "data_drift.html").is_file()
    assert not (out / REPORTS_DIR / "classification.html").exists()
    printed = nbformat.read(out / "monitor.ipynb", as_version=4).cells[-1].outputs
    assert f"note: {note}" in "".join(o.get("text", "") for o in printed)
    assert not list(temp.rglob(f"{SAMPLE_PREFIX}*"))


def test_the_shipped_notebooks_are_valid_with_cell_ids() -> None:
    """nbformat warns on every run about a cell without an id (a hard error in later releases)."""
    import warnings

    import nbformat

    from mlflow_monitor.adapters.notebooks.execute import shipped_notebook

    for name in ("monitor.ipynb", "fairness_audit.ipynb", "baseline.ipynb"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            notebook = nbformat.read(shipped_notebook(name), as_version=4)
            nbformat.validate(notebook)
        ids = [cell.get("id") for cell in notebook.cells]
        assert all(ids) and len(set(ids)) == len(ids), name

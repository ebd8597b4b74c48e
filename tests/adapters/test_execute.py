"""notebooks.py: parameters checked before execution, current-env kernel, one-line cell errors."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from mlflow_monitor.adapters.notebooks.execute import (
    NotebookParameters,
    notebook_parameters,
    run_notebook,
    shipped_notebook,
)
from mlflow_monitor.errors import NotebookError
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
def test_cell_error_names_notebook_cell_and_exception(tmp_path: Path) -> None:
    out = tmp_path / "broken.ipynb"
    with pytest.raises(NotebookError) as err:
        run_notebook(FIXTURES / "broken.ipynb", out, _params(tmp_path), timeout_seconds=120)
    assert str(err.value) == "broken.ipynb cell 4: ZeroDivisionError: division by zero"
    executed = nbformat.read(out, as_version=4)
    assert any(
        o.get("ename") == "ZeroDivisionError" for c in executed.cells for o in c.get("outputs", [])
    )


@pytest.mark.integration
def test_timeout_is_a_notebook_error(tmp_path: Path) -> None:
    source = _notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
    with pytest.raises(NotebookError) as err:
        run_notebook(source, tmp_path / "out.ipynb", {"output_dir": "."}, timeout_seconds=3)
    assert str(err.value) == ("slow.ipynb: a cell timed out after 3s (notebooks.timeout_seconds)")

"""The examples run as shipped, on the public API only: the notebook (papermill) and ``run.py``.

Real execution, no mocks: the notebook registers a model in a SQLite store, monitors three windows
through ``mm.monitor`` (which itself executes notebooks inside the notebook's kernel) and is
refused by the promotion gate; ``examples/churn/run.py`` runs the same story as a script. Both
must give each window its expected health (``datasets.demo_windows``).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mlflow_monitor import datasets

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebook" / "monitor_in_a_notebook.ipynb"
CHURN = ROOT / "examples" / "churn" / "run.py"
EXPECTED = {plan.name: plan.expected for plan, _ in datasets.demo_windows(10)}
PUBLIC = ("mlflow_monitor", "mlflow_monitor.datasets")


def _outputs(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return list(cell.get("outputs", []))


def _text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed (stdout) or returned as plain text."""
    parts = []
    for out in _outputs(cell):
        if out.output_type == "stream" and out.name == "stdout":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


@pytest.mark.integration
def test_notebook_runs_and_shows_each_step(tmp_path: Path) -> None:
    import papermill

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"workdir": str(tmp_path / "work"), "rows": 2000},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    cells = [c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]

    errors = [o for c in cells for o in _outputs(c) if o.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    assert (tmp_path / "work" / "mlflow.db").is_file()  # the store went where workdir says

    # the three windows, in order, each with its expected health
    printed = "".join(_text(c) for c in cells)
    found = re.findall(r"window (\w+): (\w+) \(expected (\w+)\)", printed)
    assert found == [(name, health, health) for name, health in EXPECTED.items()]

    # the in-memory evaluation of the drifted window renders inline: its health and a chart
    (evaluate,) = [c for c in cells if "mm.evaluate(" in c.source]
    html = [o.data["text/html"] for o in _outputs(evaluate) if "text/html" in o.get("data", {})]
    assert html and EXPECTED["drifted"] in html[0] and "<svg" in html[0]

    # the last window was critical: the gate refused @champion and said why
    (gate,) = [c for c in cells if "mm.promote(" in c.source]
    refusal = _text(gate)
    assert "refused" in refusal and "health: critical" in refusal, refusal


@pytest.mark.integration
def test_churn_script_gives_each_window_its_expected_health(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    done = subprocess.run(
        [sys.executable, str(CHURN), "--dir", str(folder), "--rows", "2000"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = re.findall(r"^window (\w+): (\w+) \(expected (\w+)\)", done.stdout, re.MULTILINE)
    assert lines == [(name, health, health) for name, health in EXPECTED.items()]
    assert datasets.MODEL_NAME in done.stdout.split("window degraded")[-1]  # the status table
    assert (folder / "mlflow.db").is_file() and (folder / "mlartifacts").is_dir()


def _imported(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``source`` names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from mlflow_monitor import workflows` reaches a module too
            if node.module == "mlflow_monitor":
                names.update(f"mlflow_monitor.{a.name}" for a in node.names if a.name.islower())
    return names


def _example_sources() -> dict[str, str]:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    sources = {str(CHURN.relative_to(ROOT)): CHURN.read_text(encoding="utf-8")}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            sources[f"{NOTEBOOK.name} cell {index}"] = cell.source
    return sources


def test_examples_import_only_public_modules() -> None:
    private = {
        where: sorted(
            n for n in _imported(source) if n.startswith("mlflow_monitor.") and n not in PUBLIC
        )
        for where, source in _example_sources().items()
    }
    assert not {k: v for k, v in private.items() if v}
    assert any("mlflow_monitor" in _imported(s) for s in _example_sources().values())


def test_notebook_is_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])

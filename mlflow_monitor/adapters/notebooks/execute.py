"""Papermill runner: parameters checked against the notebook, current-env kernel, timeout, logging.

``run_notebook`` reads top to bottom as the steps of one execution: find the notebook, check the
parameters against its ``parameters`` cell (``papermill.inspect_notebook``), pick the kernel that
runs this very Python (``python3``, which jupyter_client maps to ``sys.executable``, with
ipykernel's own spec as the fallback), start it (``kernels``: local sockets), execute with a
per-cell timeout and cell output sent to the ``mlflow_monitor.adapters.notebooks.execute`` logger, turn a
``PapermillExecutionError`` into one line naming the notebook, cell, exception type and message,
and stop the kernel. A kernel started ahead for the notebook
(``kernels.warm_kernel``) is handed to papermill instead of a fresh one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_monitor.adapters.notebooks import kernels
from mlflow_monitor.adapters.notebook_parameters import NotebookParameters
from mlflow_monitor.resources import notebook_path
from mlflow_monitor.errors import NotebookError

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

__all__ = [
    "KERNEL_NAME",
    "ExecutedNotebook",
    "notebook_parameters",
    "run_notebook",
    "shipped_notebook",
]

KERNEL_NAME = "python3"
_LOG = logging.getLogger("mlflow_monitor.adapters.notebooks.execute")


@dataclass(frozen=True)
class ExecutedNotebook:
    """An executed notebook on disk and the name it is archived under."""

    name: str
    path: Path


def shipped_notebook(name: str) -> Path:
    """Path of a notebook shipped with the package (``baseline.ipynb``, ``monitor.ipynb`` ...)."""
    return notebook_path(name)


def notebook_parameters(path: Path) -> set[str]:
    """Names declared in the notebook's ``parameters`` cell; ``NotebookError`` when it has none."""
    import papermill

    try:
        declared = papermill.inspect_notebook(str(path))
    except Exception as exc:  # nbformat raises several types for a corrupt file
        raise NotebookError(
            f"{path.name}: cannot read notebook ({type(exc).__name__}: {exc})"
        ) from None
    if not declared:
        raise NotebookError(f"{path.name}: no cell tagged 'parameters'")
    return set(declared)


def _check_parameters(path: Path, given: Mapping[str, str]) -> None:
    declared = notebook_parameters(path)
    unknown = sorted(set(given) - declared)
    if unknown:
        raise NotebookError(f"{path.name}: parameters cell does not declare {', '.join(unknown)}")


def kernel_name() -> str:
    """The kernel of this interpreter: ``python3`` (jupyter_client maps it to sys.executable)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel as exc:
        raise NotebookError(
            f"no '{KERNEL_NAME}' Jupyter kernel: install ipykernel in this environment"
        ) from exc
    return KERNEL_NAME


def run_notebook(
    source: Path,
    output: Path,
    parameters: NotebookParameters | Mapping[str, str],
    *,
    timeout_seconds: int,
    cwd: Path | None = None,
) -> ExecutedNotebook:
    """Execute ``source`` into ``output`` with ``parameters``; errors name notebook and cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if not source.is_file():
        raise NotebookError(f"{source}: notebook not found")
    values = (
        parameters.as_dict() if isinstance(parameters, NotebookParameters) else dict(parameters)
    )
    _check_parameters(source, values)
    output.parent.mkdir(parents=True, exist_ok=True)
    _LOG.info("executing %s", source.name)
    warm = kernels.claim(source)
    manager = warm.manager if warm else _fresh_kernel(cwd or Path.cwd())
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=values,
            kernel_name=KERNEL_NAME,
            log_output=True,
            progress_bar=False,
            execution_timeout=timeout_seconds,
            km=manager,
        )
    except PapermillExecutionError as exc:
        raise NotebookError(_cell_error(source.name, exc)) from None
    except TimeoutError:
        raise NotebookError(
            f"{source.name}: a cell timed out after {timeout_seconds}s (notebooks.timeout_seconds)"
        ) from None
    except Exception as exc:  # kernel death, nbclient timeouts, bad notebook JSON
        first = (str(exc).strip().splitlines() or [""])[0]
        raise NotebookError(f"{source.name}: {type(exc).__name__}: {first}") from None
    finally:
        kernels.stop_kernel(manager, now=_shipped(source))
    return ExecutedNotebook(source.stem, output)


def _fresh_kernel(cwd: Path) -> AsyncKernelManager:
    name = kernel_name()
    try:
        return kernels.start_kernel(name, cwd)
    except Exception as exc:
        raise NotebookError(f"kernel {name!r} did not start: {type(exc).__name__}: {exc}") from None


def _shipped(source: Path) -> bool:
    """Shipped notebooks write everything before their last cell ends: their kernel is killed.

    A graceful shutdown waits for the kernel to exit on its own, which after a 1,000,000-row
    window took 0.5-3 s (measured); a user's notebook keeps it, for its atexit hooks.
    """
    return source.resolve().parent == shipped_notebook("monitor.ipynb").parent


def _cell_error(name: str, exc: Exception) -> str:
    """``monitor.ipynb cell 4: KeyError: 'age'`` from papermill's structured error."""
    cell = getattr(exc, "exec_count", None)
    index = getattr(exc, "cell_index", None)
    where = f"cell {index}" if index is not None else f"cell [{cell}]"
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = (str(getattr(exc, "evalue", "")).strip().splitlines() or [""])[0]
    return f"{name} {where}: {ename}: {evalue}"

"""Papermill runner: parameters checked against the notebook, current-env kernel, timeout, logging.

``run_notebook`` reads top to bottom as the steps of one execution: find the notebook, check the
parameters against its ``parameters`` cell (``papermill.inspect_notebook``), pick the kernel that
runs this very Python (``python3``, which jupyter_client maps to ``sys.executable``, with
ipykernel's own spec as the fallback), start it (``kernels``: local sockets), execute with a
per-cell timeout and cell output sent to the ``mlflow_monitor.adapters.notebooks.execute``
logger, turn a ``PapermillExecutionError`` into a ``NotebookError`` (one line naming the notebook,
cell, exception type and message; the same parts as fields; the partly executed notebook papermill
wrote, whose failing cell holds the traceback), and stop the kernel. A kernel started ahead for
the notebook (``kernels.warm_kernel``) is handed to papermill instead of a fresh one; inside
``kernels.window_kernel`` a shipped notebook runs in the kernel the window's previous shipped
notebook ran in, and its own kernel is kept for the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_monitor.adapters.notebook_parameters import OPTIONAL, NotebookParameters
from mlflow_monitor.adapters.notebooks import kernels
from mlflow_monitor.errors import NotebookError
from mlflow_monitor.resources import notebook_path

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
        # never the exception's text: nbformat quotes the file's first bytes in it
        raise NotebookError(
            f"{path.name}: not a Jupyter notebook ({type(exc).__name__})", notebook=path.name
        ) from None
    if not declared:
        raise NotebookError(f"{path.name}: no cell tagged 'parameters'")
    return set(declared)


def _values(source: Path, parameters: NotebookParameters | Mapping[str, str]) -> dict[str, str]:
    """What papermill injects: an optional parameter only where the notebook declares it."""
    if not isinstance(parameters, NotebookParameters):
        return dict(parameters)
    declared = notebook_parameters(source)
    given = parameters.as_dict()
    return {k: v for k, v in given.items() if k not in OPTIONAL or k in declared}


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
    values = _values(source, parameters)
    _check_parameters(source, values)
    _clear_output(output)
    _LOG.info("executing %s", source.name)
    shipped = _shipped(source)
    manager = kernels.reuse() if shipped else None  # the kernel of the window's last notebook
    if manager is None:
        warm = kernels.claim(source)
        manager = warm.manager if warm else _fresh_kernel(cwd or Path.cwd())
    kept = False
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
        kept = shipped and kernels.keep(manager)  # inside ``kernels.window_kernel`` only
    except PapermillExecutionError as exc:
        raise _cell_error(source.name, exc, output) from None
    except TimeoutError as exc:
        raise NotebookError(
            f"{source.name}: a cell timed out after {timeout_seconds}s (notebooks.timeout_seconds)",
            notebook=source.name,
            ename=type(exc).__name__,
            evalue=str(exc).strip(),
            output_path=_written(output),
        ) from None
    except Exception as exc:  # kernel death, nbclient timeouts, bad notebook JSON
        if _is_unreadable_notebook(exc):  # its text quotes the file: never echoed
            raise NotebookError(
                f"{source.name}: not a Jupyter notebook ({type(exc).__name__})",
                notebook=source.name,
                ename=type(exc).__name__,
            ) from None
        raise NotebookError(
            f"{source.name}: {type(exc).__name__}: {_first_line(exc)}",
            notebook=source.name,
            ename=type(exc).__name__,
            evalue=str(exc).strip(),
            output_path=_written(output),
        ) from None
    finally:
        if not kept:
            kernels.stop_kernel(manager, now=shipped)
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


def _clear_output(output: Path) -> None:
    """A stale copy from an earlier run goes: an ``output_path`` on an error is this run's."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)


def _written(output: Path) -> Path | None:
    """The notebook papermill wrote up to the failure (it writes on start and after each cell)."""
    return output if output.is_file() else None


def _first_line(value: object) -> str:
    return (str(value).strip().splitlines() or [""])[0]


def _cell_error(name: str, exc: Exception, output: Path) -> NotebookError:
    """``monitor.ipynb cell 4: KeyError: 'age'`` from papermill's structured error, with its parts.

    ``cell_index`` is papermill's (the injected-parameters cell counts); the file at
    ``output_path`` also has papermill's error banner cells inserted before the failing cell.
    """
    cell = getattr(exc, "exec_count", None)
    index = getattr(exc, "cell_index", None)
    where = f"cell {index}" if index is not None else f"cell [{cell}]"
    ename = str(getattr(exc, "ename", type(exc).__name__))
    evalue = str(getattr(exc, "evalue", "")).strip()
    return NotebookError(
        f"{name} {where}: {ename}: {_first_line(evalue)}",
        notebook=name,
        cell_index=index,
        ename=ename,
        evalue=evalue,
        output_path=_written(output),
    )


def _is_unreadable_notebook(exc: BaseException) -> bool:
    """nbformat/JSON errors about the file itself (their messages quote its bytes)."""
    module = type(exc).__module__
    return module.startswith(("nbformat", "jsonschema", "json")) or "JSON" in type(exc).__name__

"""Errors, chosen by what the caller does next.

Every ``MonitorError`` carries one line that names the key, column or file at fault; the CLI
prints it on stderr and exits with ``exit_code``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DataError",
    "GateRefused",
    "MonitorError",
    "NotebookError",
    "RegistryError",
    "SpecError",
]


class MonitorError(Exception):
    """Base class: a monitoring operation could not be done. Exit code 2."""

    exit_code: int = 2


class SpecError(MonitorError):
    """The monitor spec is invalid: fix the named key in ``monitor.yaml``."""


class DataError(MonitorError):
    """Reference or window data is unusable: fix the named file or column."""


class RegistryError(MonitorError):
    """MLflow refused or could not be reached, or the model version is unknown."""


class NotebookError(MonitorError):
    """A monitoring notebook failed; the message names the notebook, cell and exception.

    The same facts as fields, for code that records or shows the failure: the ``notebook`` name,
    the failing cell's index as papermill counts it (``cell_index``, as in the message), the
    exception's ``ename`` and ``evalue``, and ``output_path``, the partly executed notebook whose
    failing cell holds the traceback. Each is empty or None when the failure has no such part.
    """

    def __init__(
        self,
        message: str,
        *,
        notebook: str = "",
        cell_index: int | None = None,
        ename: str = "",
        evalue: str = "",
        output_path: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.notebook = notebook
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.output_path = output_path


class GateRefused(MonitorError):
    """A promotion gate refused the alias move. Exit code 1; ``reasons`` lists every reason."""

    exit_code = 1

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons: list[str] = list(reasons or [])

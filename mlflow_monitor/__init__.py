"""mlflow-monitor: continuous monitoring of MLflow registered models.

Importing this package has no side effects and stays fast: heavy modules (mlflow, evidently,
aequitas) are imported by the functions that need them.
"""

from __future__ import annotations

from mlflow_monitor.checks import CheckOutcome, health
from mlflow_monitor.errors import (
    DataError,
    GateRefused,
    MonitorError,
    NotebookError,
    RegistryError,
    SpecError,
)
from mlflow_monitor.gate import promote
from mlflow_monitor.spec import MonitorSpec, load_spec

__all__ = [
    "CheckOutcome",
    "DataError",
    "GateRefused",
    "MonitorError",
    "MonitorSpec",
    "NotebookError",
    "RegistryError",
    "SpecError",
    "health",
    "load_spec",
    "promote",
]

__version__ = "0.1.0"

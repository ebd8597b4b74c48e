"""mlflow-monitor: continuous monitoring of MLflow registered models.

Importing this package has no side effects and stays fast: heavy modules (mlflow, evidently,
aequitas) are imported by the functions that need them.
"""

from __future__ import annotations

from mlflow_monitor.contract import CheckOutcome, health
from mlflow_monitor.errors import (
    DataError,
    GateRefused,
    MonitorError,
    NotebookError,
    RegistryError,
    SpecError,
)
from mlflow_monitor.spec import MonitorSpec, load_spec
from mlflow_monitor.workflows.promote import promote

# Workflows load MLflow, pandas and scipy: imported on first use so `import mlflow_monitor` stays
# light (module-level __getattr__, PEP 562).
_LAZY = {
    "build_baseline_run": "mlflow_monitor.workflows.build_baseline",
    "run_window": "mlflow_monitor.workflows.monitor_window",
    "evaluate_window": "mlflow_monitor.verdicts.evaluation",
    "refresh_card": "mlflow_monitor.workflows.model_cards",
    "dispatch": "mlflow_monitor.workflows.dispatch_alerts",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlflow_monitor' has no attribute {name!r}")


__all__ = [
    "CheckOutcome",
    "DataError",
    "GateRefused",
    "MonitorError",
    "MonitorSpec",
    "NotebookError",
    "RegistryError",
    "SpecError",
    "build_baseline_run",
    "dispatch",
    "evaluate_window",
    "health",
    "load_spec",
    "promote",
    "refresh_card",
    "run_window",
]

__version__ = "0.1.0"

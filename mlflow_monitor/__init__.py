"""mlflow-monitor: continuous monitoring of MLflow registered models.

``import mlflow_monitor as mm`` gives the Python API (``mlflow_monitor.api``): specs, baselines
and windows from DataFrames, in memory (``evaluate``) or logged to MLflow (``monitor``), and the
registry views (``status``, ``history``, ``card``, ``promote``). Importing has no side effects
and stays light: only the spec, the results contract and the errors load; MLflow, pandas and the
statistics are imported on first use of a name that needs them (PEP 562 ``__getattr__``). The
``TYPE_CHECKING`` imports below tell IDEs and mypy the real types of those lazy names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mlflow_monitor.contract import CheckOutcome, WindowResults, health
from mlflow_monitor.errors import (
    DataError,
    GateRefused,
    MonitorError,
    NotebookError,
    RegistryError,
    SpecError,
)
from mlflow_monitor.spec import MonitorSpec, load_spec

if TYPE_CHECKING:
    from mlflow_monitor.api import (
        ModelCard,
        attach_baseline,
        build_baseline,
        card,
        evaluate,
        history,
        make_spec,
        monitor,
        promote,
        rebaseline,
        status,
    )
    from mlflow_monitor.verdicts.baseline_model import Baseline, build_baseline_from_frame
    from mlflow_monitor.verdicts.evaluation import WindowResult, evaluate_window
    from mlflow_monitor.workflows.build_baseline import BaselineRun, build_baseline_run
    from mlflow_monitor.workflows.dispatch_alerts import dispatch
    from mlflow_monitor.workflows.model_cards import refresh_card
    from mlflow_monitor.workflows.monitor_window import WindowRun, run_window
    from mlflow_monitor.workflows.promote import PromotionResult
    from mlflow_monitor.workflows.rebaseline import Rebaselined
    from mlflow_monitor.workflows.status import StatusReport
    from mlflow_monitor.workflows.window_history import WindowHistory

# name -> the module it is imported from on first use
_LAZY = {
    **dict.fromkeys(
        (
            "ModelCard",
            "attach_baseline",
            "build_baseline",
            "card",
            "evaluate",
            "history",
            "make_spec",
            "monitor",
            "promote",
            "rebaseline",
            "status",
        ),
        "mlflow_monitor.api",
    ),
    "Baseline": "mlflow_monitor.verdicts.baseline_model",
    "build_baseline_from_frame": "mlflow_monitor.verdicts.baseline_model",
    "WindowResult": "mlflow_monitor.verdicts.evaluation",
    "evaluate_window": "mlflow_monitor.verdicts.evaluation",
    "BaselineRun": "mlflow_monitor.workflows.build_baseline",
    "build_baseline_run": "mlflow_monitor.workflows.build_baseline",
    "dispatch": "mlflow_monitor.workflows.dispatch_alerts",
    "refresh_card": "mlflow_monitor.workflows.model_cards",
    "WindowRun": "mlflow_monitor.workflows.monitor_window",
    "run_window": "mlflow_monitor.workflows.monitor_window",
    "PromotionResult": "mlflow_monitor.workflows.promote",
    "Rebaselined": "mlflow_monitor.workflows.rebaseline",
    "StatusReport": "mlflow_monitor.workflows.status",
    "WindowHistory": "mlflow_monitor.workflows.window_history",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlflow_monitor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


__all__ = [
    "Baseline",
    "BaselineRun",
    "CheckOutcome",
    "DataError",
    "GateRefused",
    "ModelCard",
    "MonitorError",
    "MonitorSpec",
    "NotebookError",
    "PromotionResult",
    "Rebaselined",
    "RegistryError",
    "SpecError",
    "StatusReport",
    "WindowHistory",
    "WindowResult",
    "WindowResults",
    "WindowRun",
    "attach_baseline",
    "build_baseline",
    "build_baseline_from_frame",
    "build_baseline_run",
    "card",
    "dispatch",
    "evaluate",
    "evaluate_window",
    "health",
    "history",
    "load_spec",
    "make_spec",
    "monitor",
    "promote",
    "rebaseline",
    "refresh_card",
    "run_window",
    "status",
]

__version__ = "0.1.0"

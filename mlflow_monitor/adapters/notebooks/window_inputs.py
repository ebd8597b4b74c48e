"""The window notebooks' one file edge: spec, baseline directory, window rows, metric history.

``load_window_inputs(params)`` is what ``monitor.ipynb`` (and any extra notebook) calls first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from mlflow_monitor.adapters import baseline_files
from mlflow_monitor.adapters.notebook_parameters import NotebookParameters, read_history
from mlflow_monitor.adapters.sources import files
from mlflow_monitor.spec import MonitorSpec, load_spec
from mlflow_monitor.verdicts.baseline_model import Baseline
from mlflow_monitor.verdicts.evaluation import History, window_bounds

__all__ = ["WindowInputs", "load_window_inputs"]


@dataclass(frozen=True, eq=False)
class WindowInputs:
    """What a monitoring notebook loads: the spec, the baseline, the window's rows, history."""

    spec: MonitorSpec
    baseline: Baseline
    frame: pd.DataFrame
    window_start: datetime | None
    window_end: datetime
    history: History


def load_window_inputs(params: NotebookParameters) -> WindowInputs:
    """Load the spec, the baseline, the window's rows (``[start, end)``) and the metric history.

    When a model will score the window (``params.model_dir``, ``params.compare_dir``), the
    model's input columns are read too, and the judged version's outputs may be absent.
    """
    spec = load_spec(params.spec_path)
    baseline = baseline_files.load_baseline(params.baseline_dir)
    start = files.parse_time(params.window_start, "window-start")
    end = files.parse_time(params.window_end, "window-end")
    frame = files.load_window(
        spec,
        params.current_path,
        start,
        end,
        extra_columns=_model_inputs(spec, params),
        outputs_optional=bool(params.model_dir),
    )
    start, end_ = window_bounds(spec, frame, start, end)
    return WindowInputs(spec, baseline, frame, start, end_, read_history(params.history_path))


def _model_inputs(spec: MonitorSpec, params: NotebookParameters) -> list[str]:
    """The input columns of the models that will score the window (none: no extra columns)."""
    names: list[str] = []
    for folder in (params.model_dir, params.compare_dir):
        if folder:
            from mlflow_monitor.adapters.mlflow.scoring import model_inputs

            names += model_inputs(Path(folder)) or spec.columns.features
    return list(dict.fromkeys(names))

"""The window notebooks' one file edge: spec, baseline directory, window rows, metric history.

``load_window_inputs(params)`` is what ``monitor.ipynb`` (and any extra notebook) calls first.
"""

from __future__ import annotations

import os
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
    # engine: spark (adapters/sources/spark.py): the window's rows as a Spark DataFrame; then
    # ``frame`` is a bounded seeded sample of them (for the reports and plots only)
    spark_frame: object | None = None


def load_window_inputs(params: NotebookParameters) -> WindowInputs:
    """Load the spec, the baseline, the window's rows (``[start, end)``) and the metric history.

    When a model will score the window (``params.model_dir``, ``params.compare_dir``), the
    model's input columns are read too, and the judged version's outputs may be absent.
    """
    spec = load_spec(params.spec_path)
    baseline = baseline_files.load_baseline(params.baseline_dir)
    start = files.parse_time(params.window_start, "window-start")
    end = files.parse_time(params.window_end, "window-end")
    if spec.engine == "spark" or os.environ.get("MLFLOW_MONITOR_ENGINE") == "spark":
        return _spark_inputs(spec, baseline, params, start, end)
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


def _spark_inputs(
    spec: MonitorSpec,
    baseline: Baseline,
    params: NotebookParameters,
    start: datetime | None,
    end: datetime | None,
) -> WindowInputs:
    """The window for the Spark engine (which neither scores nor compares: refused here)."""
    from mlflow_monitor.adapters.sources import spark
    from mlflow_monitor.contract import utc_now
    from mlflow_monitor.errors import SpecError

    if params.model_dir or params.compare_dir:
        raise SpecError(spark.UNSUPPORTED.format(what="scoring by the monitor or --compare"))
    window = spark.load_spark_window(spec, params.current_path, start, end)
    history = read_history(params.history_path)
    return WindowInputs(
        spec, baseline, window.sample, window.start, window.end or utc_now(), history, window.frame
    )


def _model_inputs(spec: MonitorSpec, params: NotebookParameters) -> list[str]:
    """The input columns of the models that will score the window (none: no extra columns)."""
    names: list[str] = []
    for folder in (params.model_dir, params.compare_dir):
        if folder:
            from mlflow_monitor.adapters.mlflow.scoring import model_inputs

            names += model_inputs(Path(folder)) or spec.columns.features
    return list(dict.fromkeys(names))

"""``mlflow-monitor init``: a commented monitor.yaml guessed from a data file's columns.

Roles are guessed from names and dtypes (``target``/``label``/``churn``... -> target,
``prediction``/``pred`` -> prediction, a float column in [0, 1] named ``score``/``proba`` -> score,
``id``/``*_id`` -> id, datetime or ``*time*``/``*date*`` -> timestamp); the rest are features:
numerical when numeric with more than 20 distinct values in the first rows, else categorical.
The text is validated with ``parse_spec`` before it is written, so the file always loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from mlflow_monitor.adapters.sources import files as data
from mlflow_monitor.errors import SpecError
from mlflow_monitor.spec import Task, parse_spec

__all__ = ["GuessedRoles", "guess_roles", "render_spec", "write_spec"]

_SAMPLE_ROWS = 10_000
_FEW_VALUES = 20
_TARGET = ("target", "label", "y", "outcome", "actual", "y_true")
_TARGET_PARTS = ("target", "label", "churn", "fraud", "default", "outcome")
_PREDICTION = ("prediction", "predicted", "pred", "y_pred", "predicted_label")
_SCORE = ("score", "proba", "probability", "y_score", "prediction_score")


@dataclass
class GuessedRoles:
    """Column roles guessed from a frame (mutable while guessing, then rendered)."""

    task: Task = "binary_classification"
    id: str | None = None
    timestamp: str | None = None
    target: str | None = None
    prediction: str | None = None
    score: str | None = None
    numerical: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)


def _match(name: str, names: tuple[str, ...], contains: tuple[str, ...] = ()) -> bool:
    lowered = name.lower()
    return lowered in names or any(part in lowered for part in contains)


def _is_score(series: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(series):
        return False
    values = series.dropna()
    return bool(len(values)) and bool(values.between(0, 1).all())


def guess_roles(frame: pd.DataFrame) -> GuessedRoles:
    """Guess each column's role from its name and values (see the module docstring)."""
    roles = GuessedRoles()
    for name in map(str, frame.columns):
        series = frame[name]
        if roles.target is None and _match(name, _TARGET, _TARGET_PARTS):
            roles.target = name
        elif roles.score is None and _match(name, _SCORE, ("score", "proba")) and _is_score(series):
            roles.score = name
        elif roles.prediction is None and _match(name, _PREDICTION, ("prediction",)):
            roles.prediction = name
        elif roles.timestamp is None and (
            pd.api.types.is_datetime64_any_dtype(series) or _match(name, ("ts",), ("time", "date"))
        ):
            roles.timestamp = name
        elif roles.id is None and (name.lower() == "id" or name.lower().endswith("_id")):
            roles.id = name
        elif (
            pd.api.types.is_numeric_dtype(series)
            and not pd.api.types.is_bool_dtype(series)
            and (series.nunique() > _FEW_VALUES)
        ):
            roles.numerical.append(name)
        else:
            roles.categorical.append(name)
    roles.task = _task(frame, roles)
    if roles.task == "multiclass_classification" and roles.score:
        roles.numerical.append(roles.score)
        roles.score = None
    return roles


def _task(frame: pd.DataFrame, roles: GuessedRoles) -> Task:
    column = roles.target or roles.prediction
    if column is None:
        return "binary_classification"
    series = frame[column].dropna()
    distinct = series.nunique()
    if pd.api.types.is_float_dtype(series) and distinct > _FEW_VALUES:
        return "regression"
    return "binary_classification" if distinct <= 2 else "multiclass_classification"


def _flow(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _opt(value: str | None) -> str:
    return "null" if value is None else json.dumps(value)


def render_spec(model: str, roles: GuessedRoles, source: str) -> str:
    """The commented YAML text of a spec for ``model`` with the guessed ``roles``."""
    positive = "positive_label: 1            # the label value meaning 'positive'\n"
    return (
        f"# monitor.yaml for {model}, guessed by `mlflow-monitor init` from {source}.\n"
        "# Check every role below, then: mlflow-monitor baseline --spec monitor.yaml ...\n"
        f"model: {_opt(model)}\n"
        f"task: {roles.task}   # binary_classification | multiclass_classification | regression\n"
        + (positive if roles.task == "binary_classification" else "")
        + "columns:\n"
        f"  id: {_opt(roles.id)}                 # row identifier (not monitored)\n"
        f"  timestamp: {_opt(roles.timestamp)}   # filters rows for --window-start/--window-end\n"
        f"  target: {_opt(roles.target)}         # labels; may be missing from a window\n"
        f"  prediction: {_opt(roles.prediction)}\n"
        f"  score: {_opt(roles.score)}           # binary: probability of the positive label\n"
        f"  numerical: {_flow(roles.numerical)}\n"
        f"  categorical: {_flow(roles.categorical)}\n"
        "  segments: []        # columns whose values are checked one by one, e.g. [region]\n"
        "  protected: []       # protected attributes for fairness checks, e.g. [sex, race]\n"
        "drift:\n"
        "  method: auto        # Evidently's selection; or psi, ks, wasserstein, jensenshannon\n"
        "  share_warning: 0.3  # share of drifted features that makes the window a warning\n"
        "  share_critical: 0.6\n"
        "performance:\n"
        "  checks: []          # empty: the task's defaults (e.g. roc_auc may drop 0.05)\n"
        "quality:\n"
        "  max_missing_share: 0.1\n"
        "alerts:\n"
        "  channels: []        # e.g. - {url: 'slack://${SLACK_TOKEN}', min_severity: critical}\n"
        "sampling:\n"
        "  baseline_rows: 100000  # reference rows kept for reports\n"
        "  report_rows: 5000      # rows the Evidently reports are drawn on\n"
    )


def write_spec(model: str, data_path: str | Path, out: Path, *, force: bool = False) -> Path:
    """Guess, render, validate and write the spec; refuses to overwrite without ``force``."""
    if out.exists() and not force:
        raise SpecError(f"{out}: already exists (use --force to overwrite)")
    frame = next(data.iter_chunks(data.inspect_data(data_path).path, rows=_SAMPLE_ROWS), None)
    if frame is None or frame.empty:
        raise SpecError(f"{data_path}: no rows to infer column roles from")
    text = render_spec(model, guess_roles(frame), Path(data_path).name)
    parse_spec(yaml.safe_load(text), source=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out

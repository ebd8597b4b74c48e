"""Evidently HTML reports for the audit trail, on bounded seeded samples.

Evidently is the visual layer: it recomputes every statistic from raw rows, which at 1,000,000
rows costs minutes, so it only ever sees ``spec.sampling.report_rows`` seeded rows of the baseline's
reference sample and of the window. The numbers that decide health come from ``stats/`` on all
rows; the reports show the same story on a sample for a human reader.

Reports are written by the monitoring notebook itself (not by ``monitor.py``), so the executed
notebook records that they were produced and with which sample sizes: the audit trail and the
reports cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlflow_monitor.spec import MonitorSpec

__all__ = ["ReportFiles", "sample_rows", "write_reports"]


@dataclass(frozen=True)
class ReportFiles:
    """The HTML files written and the sample sizes they were built on."""

    drift: Path
    performance: Path | None
    reference_rows: int
    current_rows: int


def sample_rows(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows drawn without replacement with ``seed`` (the frame if smaller)."""
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def _definition(spec: MonitorSpec, with_task: bool) -> object:
    from evidently import BinaryClassification, DataDefinition, MulticlassClassification, Regression

    cols = spec.columns
    numerical = list(cols.numerical)
    categorical = list(cols.categorical)
    if not with_task:
        if cols.score:
            numerical.append(cols.score)
        if cols.prediction:
            target_list = numerical if spec.task == "regression" else categorical
            target_list.append(cols.prediction)
        return DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    target = cols.target or ""
    task: dict[str, object] = {}
    if spec.task == "regression":
        task["regression"] = [Regression(target=target, prediction=cols.prediction or "")]
    elif spec.task == "binary_classification":
        pos = spec.positive_label if spec.positive_label is not None else 1
        task["classification"] = [
            BinaryClassification(
                target=target,
                prediction_labels=cols.prediction,
                prediction_probas=cols.score,
                pos_label=pos,  # type: ignore[arg-type]
            )
        ]
    else:
        task["classification"] = [
            MulticlassClassification(
                target=target,
                prediction_labels=cols.prediction,
                prediction_probas=list(cols.probabilities) or None,
            )
        ]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical, **task)


def _drift_columns(spec: MonitorSpec) -> list[str]:
    cols = spec.columns
    names = list(cols.features)
    if spec.drift.prediction:
        names += [c for c in (cols.prediction, cols.score) if c]
    return names


def _labelled(frame: pd.DataFrame, spec: MonitorSpec) -> pd.DataFrame:
    target = spec.columns.target
    if not target or target not in frame.columns:
        return frame.iloc[0:0]
    return frame.loc[frame[target].notna()]


def write_reports(
    spec: MonitorSpec, reference: pd.DataFrame, current: pd.DataFrame, out_dir: str | Path
) -> ReportFiles:
    """Write ``data_drift.html`` and ``classification.html``/``regression.html`` into ``out_dir``.

    The performance report is skipped (``performance`` is None) when either side has no labels.
    """
    from evidently import Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows, seed = spec.sampling.report_rows, spec.sampling.seed
    ref = sample_rows(reference, rows, seed)
    cur = sample_rows(current, rows, seed)
    columns = [c for c in _drift_columns(spec) if c in ref.columns and c in cur.columns]
    plain = _definition(spec, with_task=False)
    drift = Report([DataDriftPreset(columns=columns)]).run(
        Dataset.from_pandas(cur[columns], data_definition=plain),  # type: ignore[arg-type]
        Dataset.from_pandas(ref[columns], data_definition=plain),  # type: ignore[arg-type]
    )
    drift_path = folder / "data_drift.html"
    drift.save_html(str(drift_path))
    perf_path = _performance_report(spec, ref, cur, folder, ClassificationPreset, RegressionPreset)
    return ReportFiles(drift_path, perf_path, len(ref), len(cur))


def _performance_report(
    spec: MonitorSpec,
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    folder: Path,
    classification: type,
    regression: type,
) -> Path | None:
    from evidently import Dataset, Report

    ref_l, cur_l = _labelled(ref, spec), _labelled(cur, spec)
    if ref_l.empty or cur_l.empty:
        return None
    definition = _definition(spec, with_task=True)
    preset = regression() if spec.task == "regression" else classification()
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur_l, data_definition=definition),  # type: ignore[arg-type]
        Dataset.from_pandas(ref_l, data_definition=definition),  # type: ignore[arg-type]
    )
    name = "regression.html" if spec.task == "regression" else "classification.html"
    path = folder / name
    snapshot.save_html(str(path))
    return path

"""A baseline on disk: ``baseline.json`` (profiles, performance, segments, fairness) + sample.

The directory is what the baseline run keeps under ``baseline/`` and what every window notebook
reads back. ``baseline.json`` carries its own ``schema_version``; the pure ``Baseline`` builds
itself from that body (``Baseline.from_dict``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mlflow_monitor.contract import BASELINE_FILE, SAMPLE_FILE
from mlflow_monitor.errors import DataError
from mlflow_monitor.verdicts.baseline_model import Baseline

__all__ = ["load_baseline", "save_baseline"]


def save_baseline(baseline: Baseline, directory: str | Path) -> Path:
    """Write ``baseline.json`` and ``sample.parquet`` into ``directory``; returns it."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    body = baseline.to_dict()
    (folder / BASELINE_FILE).write_text(json.dumps(body, indent=1, allow_nan=False))
    baseline.sample.to_parquet(folder / SAMPLE_FILE, index=False)
    return folder


def load_baseline(directory: str | Path) -> Baseline:
    """Read a baseline directory written by ``save_baseline``; errors name the file and key."""
    folder = Path(directory)
    file = folder / BASELINE_FILE
    if not file.is_file():
        raise DataError(f"{file}: baseline file not found")
    body = json.loads(file.read_text())
    return Baseline.from_dict(body, sample=pd.read_parquet(folder / SAMPLE_FILE), source=str(file))

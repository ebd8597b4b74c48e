"""The notebooks' parameters as one typed object, on both sides of papermill.

The workflow builds a ``NotebookParameters`` and papermill injects ``as_dict()`` into the
notebook's ``parameters`` cell; the notebook rebuilds the same object with
``NotebookParameters.from_namespace(globals())`` and hands it to the package
(``load_window_inputs``, ``evidently_reports.start_reports``, the compliance step). The field list
is written here once. Parameters are paths, ids and times only: never a secret.

Light (no pandas): the CLI process and the report child import it without the statistics.
``write_history``/``read_history`` hand the metric history from the workflow to the notebook.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path

from mlflow_monitor.contract import parse_utc, utc_text
from mlflow_monitor.errors import NotebookError

__all__ = ["NotebookParameters", "read_history", "write_history"]


@dataclass(frozen=True)
class NotebookParameters:
    """What every monitoring notebook receives (``monitor.ipynb``, extras, ``fairness_audit``)."""

    spec_path: str
    model_version: str
    current_path: str
    baseline_dir: str
    window_start: str = ""
    window_end: str = ""
    output_dir: str = "."
    history_path: str = ""

    def as_dict(self) -> dict[str, str]:
        """The parameters as papermill injects them."""
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names, in order (what a notebook's ``parameters`` cell defines)."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, object]) -> NotebookParameters:
        """Rebuild the parameters inside a notebook from its globals (``globals()``)."""
        missing = [n for n in cls.names() if n not in namespace]
        if missing:
            raise NotebookError(f"notebook parameters missing: {', '.join(missing)}")
        return cls(**{n: str(namespace[n]) for n in cls.names()})

    def to_json(self) -> str:
        """JSON text (handed to the report child)."""
        return json.dumps(self.as_dict())

    @classmethod
    def from_json(cls, text: str) -> NotebookParameters:
        """Inverse of ``to_json``."""
        return cls(**{k: str(v) for k, v in json.loads(text).items() if k in cls.names()})


def write_history(history: Mapping[str, Sequence[tuple[datetime, float]]], path: Path) -> Path:
    """Write ``{metric: [[UTC time, value], ...]}`` for the notebook to read back."""
    body = {k: [[utc_text(t, precise=True), v] for t, v in points] for k, points in history.items()}
    path.write_text(json.dumps(body))
    return path


def read_history(path: str) -> dict[str, list[tuple[datetime, float]]]:
    """Inverse of ``write_history``; an empty path means no history."""
    if not path:
        return {}
    raw = json.loads(Path(path).read_text())
    return {k: [(parse_utc(t), float(v)) for t, v in points] for k, points in raw.items()}

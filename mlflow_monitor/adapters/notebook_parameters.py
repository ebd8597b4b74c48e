"""The notebooks' parameters as one typed object, on both sides of papermill.

The workflow builds a ``NotebookParameters`` and papermill injects ``as_dict()`` into the
notebook's ``parameters`` cell; the notebook rebuilds the same object with
``NotebookParameters.from_namespace(globals())`` and hands it to the package
(``load_window_inputs``, ``evidently_reports.start_reports``, the compliance step). The field list
is written here once. Parameters are paths, ids and times only: never a secret.

Light (no pandas): the CLI process and the report child import it without the statistics.
``write_history``/``read_history`` hand the metric history from the workflow to the notebook;
``write_trends``/``read_trends`` the previous windows' results (for the notebook's trend figure).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path

from mlflow_monitor.contract import WindowResults, parse_utc, utc_text
from mlflow_monitor.errors import DataError, NotebookError
from mlflow_monitor.verdicts.trends import WindowRecord

__all__ = [
    "OPTIONAL",
    "NotebookParameters",
    "read_history",
    "read_trends",
    "write_history",
    "write_trends",
]

# added after the first release: passed to a notebook only when its parameters cell declares them
OPTIONAL = (
    "model_dir", "model_uri", "compare_dir", "compare_uri", "compare_against", "compare_version",
    "trends_path",
)  # fmt: skip


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
    # the version's own model, downloaded when the window needs scoring ("" otherwise), and
    # the other version of a shadow comparison (``run --compare``): local folders and
    # registry URIs only, never a tracking URI (it may carry a credential)
    model_dir: str = ""
    model_uri: str = ""
    compare_dir: str = ""
    compare_uri: str = ""
    compare_against: str = ""
    compare_version: str = ""
    # the previous windows' results (``write_trends``), for the trend figure ("" for none)
    trends_path: str = ""

    def as_dict(self) -> dict[str, str]:
        """The parameters as papermill injects them."""
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names, in order (what a notebook's ``parameters`` cell defines)."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, object]) -> NotebookParameters:
        """Rebuild the parameters inside a notebook from its globals (``globals()``).

        Every parameter must be there but the ``OPTIONAL`` ones, which a notebook written for an
        earlier release does not declare (``run_notebook`` passes those only where declared).
        """
        missing = [n for n in cls.names() if n not in namespace and n not in OPTIONAL]
        if missing:
            raise NotebookError(f"notebook parameters missing: {', '.join(missing)}")
        return cls(**{n: str(namespace[n]) for n in cls.names() if n in namespace})

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


def write_trends(records: Sequence[WindowRecord], path: Path) -> Path:
    """Write the previous windows' run ids and ``results.json`` bodies, oldest first."""
    body = {"windows": [{"run_id": r.run_id, "results": r.results.to_dict()} for r in records]}
    path.write_text(json.dumps(body))
    return path


def read_trends(path: str) -> list[WindowRecord]:
    """Inverse of ``write_trends``; an empty path means no previous window. A body the
    contract's reader refuses is left out (the figure is optional, the window is not)."""
    if not path:
        return []
    raw = json.loads(Path(path).read_text())
    records = []
    for item in raw.get("windows") or ():
        try:
            records.append(
                WindowRecord(str(item["run_id"]), WindowResults.from_dict(item["results"]))
            )
        except (DataError, KeyError, TypeError):
            continue
    return records

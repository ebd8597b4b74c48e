"""Which columns a spec profiles, and whether a stored baseline profiled them alike.

Light on purpose (the spec and the errors only): the CLI process checks a window's spec
against the baseline's stored column kinds before a run exists (``workflows.preflight``)
without importing the statistics, which only the notebook kernel needs.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import MonitorSpec

__all__ = ["check_profiled", "profile_columns"]


def profile_columns(
    spec: MonitorSpec, available: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """(numerical, categorical) columns a profile covers: features, score, prediction, target.

    Prediction and target are categorical for classification, numerical for regression.
    ``available`` limits the list to columns present (the target may be absent).
    """
    cols = spec.columns
    numerical = [*cols.numerical, *([cols.score] if cols.score else []), *cols.probabilities]
    categorical = list(cols.categorical)
    outputs = [c for c in (cols.prediction, cols.target) if c]
    (numerical if spec.task == "regression" else categorical).extend(outputs)
    if available is not None:
        keep = set(available)
        numerical = [c for c in numerical if c in keep]
        categorical = [c for c in categorical if c in keep]
    return list(dict.fromkeys(numerical)), list(dict.fromkeys(categorical))


def check_profiled(spec: MonitorSpec, kinds: Mapping[str, str]) -> None:
    """``check_against_baseline`` on the baseline's column kinds (name -> numerical/categorical)."""
    numerical, categorical = profile_columns(spec)
    for kind, names in (("numerical", numerical), ("categorical", categorical)):
        for name in names:
            if name == spec.columns.target:
                continue  # a reference without labels has no target profile
            found = kinds.get(name)
            if found is None:
                raise DataError(
                    f"column {name!r} is in the spec but not in the baseline (built from a spec "
                    "without it): rebuild the baseline with this spec"
                )
            if found != kind:
                raise DataError(
                    f"column {name!r} is {kind} in the spec but {found} in the baseline: "
                    "rebuild the baseline with this spec"
                )

"""Reading ``results.json`` back: the check outcomes, without the statistics stack.

``monitor.py`` reads the notebook's results in the CLI process, which otherwise never needs
pandas, scipy or scikit-learn; importing them through ``window`` only to parse this JSON cost
1.5-3 s of the whole ``run`` at 1,000,000 rows (import plus interpreter teardown).
``window.outcomes_from_results`` is this function.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow_monitor.checks import AppliedThreshold, CheckOutcome
from mlflow_monitor.errors import DataError

__all__ = ["outcomes_from_results"]


def outcomes_from_results(body: Mapping[str, object]) -> list[CheckOutcome]:
    """The check outcomes of a ``results.json`` (as written by ``WindowResult.to_dict``)."""
    raw = body.get("outcomes")
    if not isinstance(raw, list):
        raise DataError("results.json: 'outcomes' must be a list")
    return [_outcome(item) for item in raw]


def _outcome(item: Mapping[str, object]) -> CheckOutcome:
    t = item.get("threshold")
    threshold = None
    if isinstance(t, Mapping):
        threshold = AppliedThreshold(
            _num(t.get("lower")),
            _num(t.get("upper")),
            str(t.get("source", "")),
            str(t.get("note", "")),
        )
    evidence = item.get("evidence")
    return CheckOutcome(
        check_id=str(item["check_id"]),
        kind=str(item["kind"]),
        status=item["status"],  # type: ignore[arg-type]
        severity=item["severity"],  # type: ignore[arg-type]
        value=_num(item.get("value")),
        threshold=threshold,
        message=str(item.get("message", "")),
        metric=None if item.get("metric") is None else str(item.get("metric")),
        evidence=dict(evidence) if isinstance(evidence, Mapping) else {},
    )


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None

"""Status of monitored model versions: health, last check, baseline, failing checks.

Read from the version tags (the contract of DESIGN.md section 4) and, for the failing checks,
from the last run's ``results.json`` (falling back to the ``monitor.health_reason`` tag for a run
that failed before writing results).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns, VersionState
from mlflow_monitor.contract import RESULTS_FILE, WindowResults
from mlflow_monitor.errors import DataError

__all__ = ["StatusRow", "status_rows", "status_table"]

_MAX_FINDINGS = 3


@dataclass(frozen=True)
class StatusRow:
    """One line of ``mlflow-monitor status``."""

    model: str
    version: str
    aliases: tuple[str, ...]
    health: str
    last_checked: str
    baseline_run_id: str
    failing: tuple[str, ...]


def status_rows(model: str | None = None, *, tracking_uri: str | None = None) -> list[StatusRow]:
    """One row per registered version (of ``model``, or of every model)."""
    runs = MonitorRuns(tracking_uri)
    return [_row(runs, state) for state in runs.versions(model)]


def _row(runs: MonitorRuns, state: VersionState) -> StatusRow:
    return StatusRow(
        model=state.model,
        version=state.version,
        aliases=state.aliases,
        health=state.health or ("no baseline" if not state.baseline_run_id else "not checked"),
        last_checked=state.last_checked or "-",
        baseline_run_id=state.baseline_run_id or "-",
        failing=_failing(runs, state),
    )


def _failing(runs: MonitorRuns, state: VersionState) -> tuple[str, ...]:
    if state.health == "error":
        return (f"error: {state.reason or 'monitoring failed'}",)
    if not state.last_run_id or state.health in (None, "healthy"):
        return ()
    body = runs.read_json(state.last_run_id, RESULTS_FILE)
    if not isinstance(body, Mapping):
        return ()
    try:
        found = WindowResults.from_dict(body).findings
    except DataError as exc:
        return (f"unreadable results.json: {exc}",)
    texts = [f"{o.check_id} ({o.status})" for o in found]
    if len(texts) > _MAX_FINDINGS:
        texts = [*texts[:_MAX_FINDINGS], f"+{len(texts) - _MAX_FINDINGS} more"]
    return tuple(texts)


def status_table(rows: list[StatusRow]) -> str:
    """A plain-text table; failing checks joined with ``; ``."""
    if not rows:
        return "no registered model versions found"
    header = ("MODEL", "VERSION", "ALIASES", "HEALTH", "LAST CHECK", "BASELINE RUN", "FAILING")
    body = [
        (
            r.model,
            r.version,
            ",".join(r.aliases) or "-",
            r.health,
            r.last_checked,
            r.baseline_run_id,
            "; ".join(r.failing) or "-",
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in (header, *body)) for i in range(len(header) - 1)]
    lines = []
    for line in (header, *body):
        cells = [str(c).ljust(w) for c, w in zip(line[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, str(line[-1])]))
    return "\n".join(lines)

"""After a fleet's windows: escalations, SLO burn-rate alerts and alias bypasses, model by model.

``fleet run`` calls ``after_fleet`` once every window has ended, so a scheduler that runs the
fleet needs no second job: for each model whose spec loaded,

1. ``escalation.escalate``: unacknowledged findings whose escalation step is due are sent on
   (only when the spec has ``alerts.escalation``);
2. ``slo_report.evaluate_and_alert_slos`` for each version that ran: the SLOs judged on the
   window history now (the ``monitor.slo`` tag that ``status``, the card, the dashboard and
   ``/metrics`` show), burn-rate alerts sent once while firing (only when the spec has ``slos``);
3. ``bypass.settle_bypasses``: an alias the gate would refuse, moved outside ``promote``, is
   recorded, alerted once, and reverted when the gate says ``revert_bypass``.

Each step of each model is isolated: its failure is one note in the summary, never a failed
window and never a lost verdict (the windows are already recorded when this runs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_monitor.spec import MonitorSpec
from mlflow_monitor.workflows.fleet_worker import WindowOutcome

if TYPE_CHECKING:
    from mlflow_monitor.workflows.bypass import BypassOutcome

__all__ = ["FleetFollowups", "after_fleet"]


@dataclass(frozen=True)
class FleetFollowups:
    """What the steps after the windows did: one line per action taken, one note per failure."""

    escalated: tuple[str, ...] = ()
    slo_alerts: tuple[str, ...] = ()
    bypasses: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def lines(self) -> tuple[str, ...]:
        return (*self.escalated, *self.slo_alerts, *self.bypasses)

    def to_dict(self) -> dict[str, object]:
        return {
            "escalated": list(self.escalated),
            "slo_alerts": list(self.slo_alerts),
            "bypasses": list(self.bypasses),
            "notes": list(self.notes),
        }


def after_fleet(
    *,
    tracking_uri: str | None,
    specs: Mapping[Path, MonitorSpec],
    outcomes: Sequence[WindowOutcome],
    now: datetime,
) -> FleetFollowups:
    """Run the three steps for every loaded spec (module docstring); never raises."""
    escalated: list[str] = []
    slo_alerts: list[str] = []
    bypasses: list[str] = []
    notes: list[str] = []
    for spec in _distinct(specs):
        model = spec.model
        if spec.alerts.escalation:
            _collect(
                escalated,
                notes,
                f"{model}: escalation",
                partial(_escalate, tracking_uri, spec, now),
            )
        for version in _versions_run(model, outcomes) if spec.slos else []:
            what = f"{model} v{version}: SLOs"
            _collect(slo_alerts, notes, what, partial(_slos, tracking_uri, spec, version, now))
        if spec.gates:
            _collect(
                bypasses,
                notes,
                f"{model}: bypass check",
                partial(_bypasses, tracking_uri, spec, now),
            )
    return FleetFollowups(tuple(escalated), tuple(slo_alerts), tuple(bypasses), tuple(notes))


def _collect(into: list[str], notes: list[str], what: str, step: Callable[[], list[str]]) -> None:
    try:
        into.extend(step())
    except Exception as exc:  # one model's follow-up never stops the others
        notes.append(f"{what} failed: {type(exc).__name__}: {exc}")


def _escalate(tracking_uri: str | None, spec: MonitorSpec, now: datetime) -> list[str]:
    from mlflow_monitor.workflows.escalation import escalate

    result = escalate(tracking_uri=tracking_uri, spec=spec, now=now)
    lines = [
        f"escalated {result.model} v{d.version} {d.key} -> {d.channel} (step {d.step + 1}): "
        + (f"failed: {d.reason}" if d.status == "failed" else "sent")
        for d in result.deliveries
        if d.status in ("sent", "failed")
    ]
    return lines + [f"{result.model}: {note}" for note in result.notes]


def _slos(tracking_uri: str | None, spec: MonitorSpec, version: str, now: datetime) -> list[str]:
    from mlflow_monitor.workflows.slo_report import evaluate_and_alert_slos

    evaluation = evaluate_and_alert_slos(
        tracking_uri=tracking_uri, spec=spec, version=version, now=now
    )
    told = [
        f"SLO {spec.model} v{version} {a.key} ({a.kind}, {a.severity}) -> {a.channel}: "
        + (f"failed: {a.reason}" if a.status == "failed" else "sent")
        for a in evaluation.alerts.alerts
    ]
    if evaluation.alerts.error:
        told.append(f"SLO {spec.model} v{version}: alerts not sent: {evaluation.alerts.error}")
    return told + [f"SLO {spec.model} v{version}: {note}" for note in evaluation.notes]


def _bypasses(tracking_uri: str | None, spec: MonitorSpec, now: datetime) -> list[str]:
    from mlflow_monitor.workflows.bypass import settle_bypasses

    return [
        _bypass_line(o)
        for o in settle_bypasses(tracking_uri=tracking_uri, spec=spec, now=now)
        if o.kind in ("bypass", "unaudited")
    ]


def _bypass_line(outcome: BypassOutcome) -> str:
    line = f"{outcome.kind} {outcome.model}@{outcome.alias} -> v{outcome.version}"
    if outcome.revert is not None:
        back = outcome.revert.version
        line += f", reverted to v{back}" if back else ", alias removed"
    return line


def _distinct(specs: Mapping[Path, MonitorSpec]) -> list[MonitorSpec]:
    """One spec per model (a model listed twice in a fleet is followed up once)."""
    seen: dict[str, MonitorSpec] = {}
    for spec in specs.values():
        seen.setdefault(spec.model, spec)
    return list(seen.values())


def _versions_run(model: str, outcomes: Sequence[WindowOutcome]) -> list[str]:
    """The versions of ``model`` whose window ran (a failed window judges no SLO anew)."""
    return sorted({o.job.version for o in outcomes if o.job.model == model and o.ok})

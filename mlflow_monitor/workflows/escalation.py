"""Escalation: send the due steps of unacknowledged findings (``alerts.escalation`` in the spec).

``escalate(tracking_uri=, spec=, now=)`` is what ``mlflow-monitor alerts escalate`` and a
scheduler (``fleet run``) call; it never raises for one version's trouble (the result says it).
For each version of the model with alert state (``alert_state.state_versions``):

1. read its state and the standing decisions; the due steps are the pure
   ``verdicts.escalation.due_steps`` (``after`` passed since the finding first fired at its
   severity, not sent yet, nobody acknowledged or dismissed it); none -> next version, no lease;
2. take the alert lease, read again, read the silences and each due finding's last run's
   ``results.json`` (the findings the message lists);
3. per channel of a step, one message: a channel already told of the finding counts as done, a
   silenced one waits (the step stays due), one whose ``min_severity`` is above the finding's
   is skipped;
4. write the delivered channels' marks (so the window runs that follow repeat and resolve on
   them, as on any channel) and the steps now complete; release the lease.

A step is sent once: it is marked only when every channel of it was told, so a failed delivery
is retried by the next call, never repeated after success.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Literal

from mlflow_monitor.adapters.apprise_delivery import deliver
from mlflow_monitor.adapters.mlflow.alert_state import AlertStateStore, Lease, state_versions
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import RESULTS_FILE, WindowResults
from mlflow_monitor.spec import AlertChannel, MonitorSpec
from mlflow_monitor.verdicts.alert_plan import (
    AlertItem,
    ChannelMark,
    CheckMarks,
    RunEvent,
    channel_key,
    escalation_items,
    render_message,
    severity_rank,
)
from mlflow_monitor.verdicts.escalation import DueStep, due_steps, silence_for
from mlflow_monitor.workflows.adjudicate import AlertDecisions, standing_decisions
from mlflow_monitor.workflows.dispatch_alerts import run_url

__all__ = ["EscalationResult", "StepDelivery", "escalate"]

log = logging.getLogger(__name__)
DeliveryStatus = Literal["sent", "failed", "silenced", "told", "not_for_severity"]


@dataclass(frozen=True)
class StepDelivery:
    """One channel of one due step: ``sent``, ``failed`` (reason), ``silenced`` (silence id),
    ``told`` (it already knew) or ``not_for_severity`` (its ``min_severity`` is above)."""

    version: str
    key: str
    step: int
    channel: str
    status: DeliveryStatus
    reason: str = ""


@dataclass(frozen=True)
class EscalationResult:
    """What one ``escalate`` call did, for every version it looked at."""

    model: str
    at: datetime
    versions: tuple[str, ...]
    deliveries: tuple[StepDelivery, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def sent(self) -> tuple[StepDelivery, ...]:
        return tuple(d for d in self.deliveries if d.status == "sent")

    @property
    def failed(self) -> tuple[StepDelivery, ...]:
        return tuple(d for d in self.deliveries if d.status == "failed")


def escalate(
    *,
    tracking_uri: str | None,
    spec: MonitorSpec,
    now: datetime | None = None,
    lock_wait_seconds: float = 30.0,
) -> EscalationResult:
    """Send every due escalation step of ``spec.model``'s versions (module docstring)."""
    moment = now or datetime.now(timezone.utc)
    model = spec.require_model()
    if not spec.alerts.escalation:
        return EscalationResult(model, moment, (), notes=("alerts.escalation is empty",))
    versions = tuple(state_versions(model, tracking_uri=tracking_uri))
    deliveries: list[StepDelivery] = []
    notes: list[str] = []
    for version in versions:
        try:
            deliveries += _escalate_version(spec, version, tracking_uri, moment, lock_wait_seconds)
        except Exception as exc:  # one version's trouble never stops the others
            notes.append(f"v{version}: not escalated: {type(exc).__name__}: {exc}")
            log.warning("escalation of %s v%s failed: %s", model, version, exc)
    return EscalationResult(model, moment, versions, tuple(deliveries), tuple(notes))


def _escalate_version(
    spec: MonitorSpec, version: str, tracking_uri: str | None, now: datetime, lock_wait: float
) -> list[StepDelivery]:
    store = AlertStateStore(spec.model, version, tracking_uri=tracking_uri)
    if not _due(spec, store.read(), tracking_uri, version, now)[0]:
        return []
    lease = store.acquire(ttl_seconds=120.0, wait_seconds=lock_wait)
    if lease is None:
        raise RuntimeError("the alert lease stayed held; the steps stay due")
    try:
        state = store.read()
        due, decided = _due(spec, state, tracking_uri, version, now)
        return _send_steps(spec, store, lease, state, due, decided, tracking_uri, now)
    finally:
        store.release(lease)


def _due(
    spec: MonitorSpec,
    state: Mapping[str, CheckMarks],
    tracking_uri: str | None,
    version: str,
    now: datetime,
) -> tuple[list[DueStep], AlertDecisions | None]:
    marks = {k: m.escalation for k, m in state.items() if m.escalation is not None}
    if not marks:
        return [], None
    decided = standing_decisions(
        tracking_uri=tracking_uri, model=spec.model, version=version, state=state
    )
    return due_steps(marks, spec.alerts.escalation, decided.standing, now=now), decided


def _send_steps(
    spec: MonitorSpec,
    store: AlertStateStore,
    lease: Lease,
    state: Mapping[str, CheckMarks],
    due: Sequence[DueStep],
    decided: AlertDecisions | None,
    tracking_uri: str | None,
    now: datetime,
) -> list[StepDelivery]:
    """Deliver each due step to its channels; write what was told and the steps completed."""
    channels = {channel_key(c): c for c in spec.alerts.channels}
    silences = decided.silences if decided is not None else ()
    results: dict[str, WindowResults | None] = {}
    deliveries: list[StepDelivery] = []
    changed: dict[str, CheckMarks] = {}
    for step in due:
        marks = changed.get(step.key) or state[step.key]
        mark = step.mark
        done = True
        for name in step.channels:
            channel = channels[name]
            if name in marks.channels:
                status: DeliveryStatus = "told"
                reason = ""
            elif severity_rank(channel.min_severity) > severity_rank(mark.severity):
                status, reason = "not_for_severity", ""
            else:
                checks = [step.key, step.key.split("@")[0]]
                silence = silence_for(
                    silences, version=store.version, checks=checks, channel=name, now=now
                )
                if silence is not None:
                    status, reason = "silenced", silence.silence_id
                else:
                    if mark.run_id not in results:
                        results[mark.run_id] = _results(tracking_uri, mark.run_id)
                    ok, reason = _deliver(
                        spec, channel, step, results[mark.run_id], now, tracking_uri
                    )
                    status = "sent" if ok else "failed"
                if status == "sent":
                    told = ChannelMark(mark.severity, now, (mark.window,) if mark.window else ())
                    marks = replace(marks, channels={**marks.channels, name: told})
                else:
                    done = False
            deliveries.append(
                StepDelivery(store.version, step.key, step.step, name, status, reason)
            )
        held = marks.escalation or mark
        if done:
            held = replace(held, steps=tuple(sorted({*held.steps, step.step})))
        changed[step.key] = replace(marks, escalation=held)
    if changed:
        store.write(lease, changed)
    return deliveries


def _deliver(
    spec: MonitorSpec,
    channel: AlertChannel,
    step: DueStep,
    results: WindowResults | None,
    now: datetime,
    tracking_uri: str | None,
) -> tuple[bool, str]:
    """One escalation message on one channel: the step, then the finding as a run's message."""
    mark = step.mark
    outcomes = results.outcomes if results is not None else ()
    items: tuple[AlertItem, ...] = escalation_items(outcomes, step.key, mark.severity)
    start, _, end = mark.window.partition("/")
    event = RunEvent(
        spec.model,
        str(results.model_version if results is not None else ""),
        mark.run_id,
        _link(spec, tracking_uri, mark.run_id),
        (results.window_start or start) if results is not None else start,
        results.window_end if results is not None else end,
        results.health if results is not None else "critical",
        outcomes,
    )
    title, body, notify = render_message(event, items)
    waited = _duration_text((now - mark.since).total_seconds())
    lead = (
        f"Escalated (step {step.step + 1} of the {mark.severity} policy, after "
        f"{_duration_text(step.after)}): firing unacknowledged for {waited}. "
        f"Acknowledge: mlflow-monitor alerts ack --spec <spec> --version <v> --check {step.key}"
        ' --reason "..."'
    )
    ok, reason, _ = deliver(
        channel, f"[ESCALATED] {title}", f"{lead}\n{body}", notify, spec.alerts.timeout_seconds
    )
    return ok, reason


def _results(tracking_uri: str | None, run_id: str) -> WindowResults | None:
    if not run_id:
        return None
    raw = MonitorRuns(tracking_uri).read_json(run_id, RESULTS_FILE)
    return WindowResults.from_dict(raw) if isinstance(raw, Mapping) else None


def _link(spec: MonitorSpec, tracking_uri: str | None, run_id: str) -> str:
    if not run_id:
        return ""
    experiment = MonitorRuns(tracking_uri).experiment_id(spec.model)
    return run_url(tracking_uri, experiment, run_id, spec.alerts.mlflow_url)


def _duration_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"

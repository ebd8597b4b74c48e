"""Escalation, adjudication and silences (pure): when a finding goes further, and when it is quiet.

Three decisions the alert workflows (``dispatch_alerts``, ``escalation``) take from records they
read out of MLflow; nothing here does I/O.

- **Escalation** (``alerts.escalation`` in the spec): per severity a list of steps ``{after,
  channels}``. A finding's clock (``EscalationMark.since``) starts when it is first delivered at
  its severity; the steps whose ``after`` has passed are due, each sent once (``due_steps``). A
  channel named in some step hears of a finding of a severity with steps only from its step on
  (``admits``); channels named in no step, and severities without steps, route by
  ``min_severity`` alone (today's behaviour). A severity change restarts the clock under the new
  severity's steps; a resolution ends it.
- **Adjudication**: ``ack`` (being handled: not repeated, no further escalation step, still
  firing), ``dismiss`` (quiet: no message until it *changes materially*, ``materially_changed``)
  and ``reopen`` (undoes either). The history is append-only; the standing of an alert key is
  its newest record made during the finding's current episode (``current_adjudications``): a
  finding that resolved and fires again is a new episode, and no earlier decision covers it.
  A decision covers the severity it was made at: a rise above it is sent (and escalates) again.
- **Materially changed** (a dismissal lapses): the severity rose above the one dismissed, or the
  effect size (``alert_plan``'s ``|value - baseline|``, the drift test's effect, else the distance
  beyond the bound) is at least ``MATERIAL_FACTOR`` times the one recorded at dismissal, or it
  resolved and fired again (a new episode, above).
- **Silences**: a model (every version), or one version, optionally one check (or ``cause:``
  key) and one channel, until a time; ended early by ``silence end``. ``silence_for`` says which
  silence holds a message back now; an expired or ended silence no longer applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mlflow_monitor.spec import AlertsSpec, EscalationStep, Severity

__all__ = [
    "MATERIAL_FACTOR",
    "Adjudication",
    "AdjudicationAction",
    "DueStep",
    "EscalationMark",
    "Silence",
    "admits",
    "current_adjudications",
    "due_steps",
    "escalation_channels",
    "materially_changed",
    "silence_for",
    "stops_escalation",
]

AdjudicationAction = Literal["ack", "dismiss", "reopen"]
MATERIAL_FACTOR = 2.0  # a dismissed finding's effect must at least double to be sent again
_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Adjudication:
    """One decision about one alert key: who, when, why, and what the finding was at the time.

    ``severity`` and ``effect`` are the finding's worst firing severity and its effect size when
    the decision was made (None when it was not firing): what a dismissal is compared against.
    """

    action: AdjudicationAction
    model: str
    version: str
    key: str
    check_id: str
    user: str
    at: datetime
    reason: str
    severity: Severity | None = None
    effect: float | None = None
    record_id: str = ""


@dataclass(frozen=True)
class Silence:
    """A silence: ``version``/``check``/``channel`` None means all of them."""

    silence_id: str
    model: str
    until: datetime
    reason: str
    user: str
    created_at: datetime
    version: str | None = None
    check: str | None = None
    channel: str | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None

    def holds(self, now: datetime) -> bool:
        """True while ``now`` is before its end (``until``, or when it was ended early)."""
        end = self.until if self.ended_at is None else min(self.until, self.ended_at)
        return self.created_at <= now < end

    @property
    def scope(self) -> str:
        """``churn v3 check perf/auc channel pager`` (what it covers, for people)."""
        parts = [self.model if self.version is None else f"{self.model} v{self.version}"]
        parts.append("all checks" if self.check is None else f"check {self.check}")
        parts.append("all channels" if self.channel is None else f"channel {self.channel}")
        return ", ".join(parts)


@dataclass(frozen=True)
class EscalationMark:
    """A firing finding's escalation: its severity, since when, the steps sent, its last run."""

    severity: Severity
    since: datetime
    steps: tuple[int, ...] = ()
    run_id: str = ""
    window: str = ""


@dataclass(frozen=True)
class DueStep:
    """A step of a finding's escalation that is due now and was not sent yet."""

    key: str
    step: int
    channels: tuple[str, ...]
    after: float
    mark: EscalationMark


# -- escalation --------------------------------------------------------------------------------
def escalation_channels(alerts: AlertsSpec) -> frozenset[str]:
    """Names of the channels some escalation step names (the others route as before)."""
    return frozenset(n for steps in alerts.escalation.values() for s in steps for n in s.channels)


def admits(
    alerts: AlertsSpec,
    channel: str,
    severity: Severity,
    *,
    elapsed_seconds: float = 0.0,
) -> bool:
    """Whether ``channel`` hears of a finding of ``severity`` that has fired ``elapsed_seconds``.

    A channel no step names, or a severity without steps: yes (its ``min_severity`` decides).
    Otherwise only once a step naming the channel is due.
    """
    steps = alerts.escalation.get(severity)
    if not steps or channel not in escalation_channels(alerts):
        return True
    return any(channel in s.channels and s.after <= elapsed_seconds for s in steps)


def due_steps(
    marks: Mapping[str, EscalationMark],
    escalation: Mapping[Severity, Sequence[EscalationStep]],
    adjudications: Mapping[str, Adjudication],
    *,
    now: datetime,
) -> list[DueStep]:
    """The steps whose ``after`` has passed, not sent yet, of findings nobody acknowledged or
    dismissed at their severity; in key, then step order."""
    due: list[DueStep] = []
    for key, mark in sorted(marks.items()):
        if stops_escalation(adjudications.get(key), mark.severity):
            continue
        elapsed = (now - mark.since).total_seconds()
        for index, step in enumerate(escalation.get(mark.severity, ())):
            if index not in mark.steps and step.after <= elapsed:
                due.append(DueStep(key, index, tuple(step.channels), step.after, mark))
    return due


def stops_escalation(decision: Adjudication | None, severity: str) -> bool:
    """An ack or dismissal made at this severity or above holds the finding's escalation."""
    if decision is None or decision.action == "reopen":
        return False
    return _RANK.get(severity, 0) <= _RANK.get(decision.severity or "critical", 2)


# -- adjudication ------------------------------------------------------------------------------
def current_adjudications(
    history: Iterable[Adjudication], opened: Mapping[str, datetime | None]
) -> dict[str, Adjudication]:
    """Per alert key, the ack or dismissal that stands now (a reopen clears it).

    ``opened`` is when each key's current episode began (``CheckMarks.opened_at``; None: before
    episodes were recorded, so every decision counts). A decision older than the episode was about
    an earlier one, and a key with no episode (not firing now) keeps no standing.
    """
    standing: dict[str, Adjudication] = {}
    for record in sorted(history, key=lambda r: (r.at, r.record_id)):
        if record.key not in opened:
            continue
        began = opened[record.key]
        if began is not None and record.at < began:
            continue
        if record.action == "reopen":
            standing.pop(record.key, None)
        else:
            standing[record.key] = record
    return standing


def materially_changed(dismissal: Adjudication, severity: str, effect: float) -> bool:
    """A dismissed finding worth a message again: a higher severity, or its effect at least
    ``MATERIAL_FACTOR`` times the one recorded at dismissal (module docstring)."""
    if _RANK.get(severity, 0) > _RANK.get(dismissal.severity or "info", 0):
        return True
    recorded = dismissal.effect
    return recorded is not None and recorded > 0 and effect >= MATERIAL_FACTOR * recorded


# -- silences ----------------------------------------------------------------------------------
def silence_for(
    silences: Iterable[Silence],
    *,
    version: str,
    checks: Iterable[str],
    channel: str,
    now: datetime,
) -> Silence | None:
    """The first silence (oldest) holding back a message on ``channel`` about any of ``checks``
    (check ids and the alert key) of ``version`` now; None when none applies."""
    named = set(checks)
    for silence in sorted(silences, key=lambda s: (s.created_at, s.silence_id)):
        if not silence.holds(now):
            continue
        if silence.version is not None and silence.version != str(version):
            continue
        if silence.check is not None and silence.check not in named:
            continue
        if silence.channel is not None and silence.channel != channel:
            continue
        return silence
    return None

"""People's decisions about alerts: ack, dismiss, reopen, and silences; who decided, when, why.

``adjudicate`` checks that the named check (or ``cause:<cause>`` key) is in the version's latest
results (the verdict's run, ``monitor.last_run_id``), resolves it to its alert key (findings
grouped under a root cause are one alert), and appends the decision with the finding's severity
and effect size at that moment (what a dismissal is later compared against,
``verdicts.escalation.materially_changed``). Silences are added, listed and ended here too.
Nothing is written when the input is bad (``DataError``: one line naming the check, exit 2).

Who: ``decider()``: the MLflow-authenticated user when the tracking server uses auth
(``MLFLOW_TRACKING_USERNAME``, the name MLflow sends), else ``workflows.promote.current_user()``
(``$MLFLOW_MONITOR_USER``, else the login name).

``standing_decisions`` and ``record_lapses`` are what ``dispatch_alerts`` and ``escalation`` use:
the decisions standing for a version's alert keys now, and the automatic reopen written when a
dismissed finding changed materially (so the history says why it was heard again).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from mlflow_monitor.adapters.mlflow.adjudication import AdjudicationLog
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import RESULTS_FILE, CheckOutcome, WindowResults, utc_text
from mlflow_monitor.errors import DataError
from mlflow_monitor.verdicts.alert_plan import CheckMarks, alert_key, key_findings
from mlflow_monitor.verdicts.escalation import (
    Adjudication,
    AdjudicationAction,
    Silence,
    current_adjudications,
)
from mlflow_monitor.workflows.promote import current_user

__all__ = [
    "AUTOMATIC_USER",
    "AlertDecisions",
    "add_silence",
    "adjudicate",
    "decider",
    "decision_history",
    "end_silence",
    "list_silences",
    "record_lapses",
    "standing_decisions",
]

AUTOMATIC_USER = "mlflow-monitor (automatic)"
_LISTED = 8  # known findings named in a bad --check line


def decider() -> str:
    """Who decides: MLflow's authenticated user (``MLFLOW_TRACKING_USERNAME``), else
    ``current_user()`` (``$MLFLOW_MONITOR_USER``, else the login name)."""
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or current_user()


def adjudicate(
    *,
    tracking_uri: str | None,
    model: str,
    version: str,
    check: str,
    action: AdjudicationAction,
    reason: str,
    now: datetime | None = None,
    user: str | None = None,
) -> Adjudication:
    """Record an ack, dismissal or reopen of the alert ``check`` belongs to; returns the record."""
    if not reason.strip():
        raise DataError("--reason: say why (it is kept with the decision)")
    outcomes = _latest_outcomes(tracking_uri, model, str(version))
    key = _alert_key(check, outcomes, model, str(version))
    severity, effect = key_findings(outcomes).get(key, (None, 0.0))
    record = Adjudication(
        action=action,
        model=model,
        version=str(version),
        key=key,
        check_id=check,
        user=user or decider(),
        at=now or datetime.now(timezone.utc),
        reason=reason.strip(),
        severity=severity,
        effect=effect if severity is not None else None,
    )
    return AdjudicationLog(tracking_uri).append(record)


def decision_history(
    *, tracking_uri: str | None, model: str, version: str | None = None
) -> list[Adjudication]:
    """Every ack, dismissal and reopen of ``model`` (or one version), oldest first."""
    return AdjudicationLog(tracking_uri).history(model, version)


@dataclass(frozen=True)
class AlertDecisions:
    """What holds for one version's alerts now: the standing decisions and the silences."""

    standing: Mapping[str, Adjudication]
    silences: tuple[Silence, ...]


def standing_decisions(
    *, tracking_uri: str | None, model: str, version: str, state: Mapping[str, CheckMarks]
) -> AlertDecisions:
    """The ack/dismissal standing per alert key (within each key's current episode) and every
    silence of the model (``verdicts.escalation.silence_for`` decides which holds)."""
    log = AdjudicationLog(tracking_uri)
    opened = {key: marks.opened_at for key, marks in state.items()}
    standing = current_adjudications(log.history(model, version), opened)
    return AlertDecisions(standing, tuple(log.silences(model)))


def record_lapses(
    *, tracking_uri: str | None, lapsed: Sequence[Adjudication], now: datetime, window: str
) -> None:
    """An automatic reopen for each dismissal whose finding changed materially."""
    log = AdjudicationLog(tracking_uri)
    for dismissal in lapsed:
        effect = "" if dismissal.effect is None else f", effect {dismissal.effect:.4g} then"
        why = (
            f"changed materially in window {window} since dismissed by {dismissal.user} "
            f"at {utc_text(dismissal.at)} (severity {dismissal.severity}{effect})"
        )
        log.append(
            Adjudication(
                "reopen",
                dismissal.model,
                dismissal.version,
                dismissal.key,
                dismissal.check_id,
                AUTOMATIC_USER,
                now,
                why,
            )
        )


# -- silences ----------------------------------------------------------------------------------
def add_silence(
    *,
    tracking_uri: str | None,
    model: str,
    until: datetime,
    reason: str,
    version: str | None = None,
    check: str | None = None,
    channel: str | None = None,
    now: datetime | None = None,
    user: str | None = None,
) -> Silence:
    """Silence alerts of a model (or one version, check, channel) until ``until``."""
    moment = now or datetime.now(timezone.utc)
    if not reason.strip():
        raise DataError("--reason: say why (it is kept with the silence)")
    if until <= moment:
        raise DataError(f"--until {utc_text(until)}: is not in the future")
    silence = Silence(
        "",
        model,
        until,
        reason.strip(),
        user or decider(),
        moment,
        version=version,
        check=check,
        channel=channel,
    )
    return AdjudicationLog(tracking_uri).add_silence(silence)


def list_silences(
    *, tracking_uri: str | None, model: str, now: datetime | None = None, everything: bool = False
) -> list[Silence]:
    """The model's silences holding now (``everything``: ended and expired ones too)."""
    moment = now or datetime.now(timezone.utc)
    found = AdjudicationLog(tracking_uri).silences(model)
    return found if everything else [s for s in found if s.holds(moment)]


def end_silence(
    *, tracking_uri: str | None, silence_id: str, now: datetime | None = None
) -> Silence:
    """End a silence now; ``DataError`` naming the id when there is none, or it already ended."""
    log = AdjudicationLog(tracking_uri)
    moment = now or datetime.now(timezone.utc)
    found = log.silence(silence_id)
    if not found.holds(moment):
        raise DataError(f"silence {silence_id}: already over (ended or expired)")
    return log.end_silence(silence_id, user=decider(), at=moment)


# -- steps -------------------------------------------------------------------------------------
def _latest_outcomes(tracking_uri: str | None, model: str, version: str) -> list[CheckOutcome]:
    """The outcomes of the version's verdict run (``monitor.last_run_id``)."""
    runs = MonitorRuns(tracking_uri)
    state = runs.version(model, version)
    raw = runs.read_json(state.last_run_id, RESULTS_FILE) if state.last_run_id else None
    if not isinstance(raw, Mapping):
        raise DataError(
            f"{model} v{version}: no monitoring results yet, so no alert to decide about"
        )
    return list(WindowResults.from_dict(raw).outcomes)


def _alert_key(check: str, outcomes: Sequence[CheckOutcome], model: str, version: str) -> str:
    """The alert key of ``check`` (a check id or a ``cause:`` key) in the latest results."""
    keys = {alert_key(o) for o in outcomes}
    if check in keys:
        return check
    for outcome in outcomes:
        if outcome.check_id == check:
            return alert_key(outcome)
    firing = sorted({alert_key(o) for o in outcomes if o.firing})
    listed = ", ".join(firing[:_LISTED]) + (" ..." if len(firing) > _LISTED else "")
    raise DataError(
        f"--check {check}: not a check of {model} v{version}'s latest results"
        f" (firing now: {listed or 'none'})"
    )

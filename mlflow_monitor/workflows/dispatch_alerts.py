"""Alerts: findings of a monitoring run -> fatigue-controlled, routed, grouped apprise messages.

``dispatch(spec, event)`` is called by the workflow after a window's run is logged; it never
raises, and returns an ``AlertsReport`` (written as ``alerts.json`` on the run). Steps:

1. take the version's alert lease in MLflow (``registry.alert_state``: two runs of the same
   version never both send);
2. read the state and *plan*: per channel and check, a finding visible to the channel (severity
   >= the channel's ``min_severity``) is ``new``, ``escalated`` (worse than what the channel was
   last told), ``repeat`` (still firing and the cooldown since the last message has passed) or
   suppressed (``cooldown``; ``duplicate`` when this window was already delivered: retries are
   idempotent); a check that passes again, or dropped below the channel's minimum, is
   ``resolved`` for the channels that were told about it;
3. send at most one message per channel, worst first, with apprise (timeout, never raises);
   findings grouped under one root cause are one alert (``verdicts.alert_plan``);
4. write the new marks only for channels that received their message, so a failed delivery is
   sent again by the next run, with each finding's escalation clock (``workflows.escalation``
   sends the later steps); release the lease.

Before planning, the decisions people made are read (``workflows.adjudicate``): an ack or
dismissal standing for an alert key and the model's silences shape the plan (held-back items
are in the report as ``acknowledged``, ``dismissed`` or ``silenced <id>``); a dismissal whose
finding changed materially is sent again and an automatic reopen is recorded.

What went wrong is recorded in the report (``alerts.json``) and said on the console by the
caller: ``failure_lines(report)`` gives one line per channel whose delivery failed.

Secrets: channel URLs are resolved only inside ``alert_delivery.deliver``; every text that
leaves (report, logs, apprise's and urllib3's log records) shows apprise's privacy URL with any
resolved secret value replaced by its ``${NAME}``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from mlflow_monitor.adapters.apprise_delivery import deliver, printable_url, redact_secrets
from mlflow_monitor.contract import CheckOutcome, utc_text
from mlflow_monitor.errors import MonitorError
from mlflow_monitor.spec import AlertChannel, MonitorSpec
from mlflow_monitor.verdicts.alert_plan import (
    AlertItem,
    AlertsReport,
    ChannelResult,
    ReportStatus,
    RunEvent,
    channel_key,
    escalation_marks,
    new_marks,
    plan_messages,
    render_message,
    run_link_text,
    severity_rank,
)

if TYPE_CHECKING:
    from mlflow_monitor.adapters.mlflow.alert_state import LeaseHolder, Standing
    from mlflow_monitor.verdicts.escalation import Adjudication

__all__ = [
    "dispatch",
    "failed_line",
    "failure_lines",
    "notify_critical",
    "notify_failure",
    "notify_rollback",
    "run_url",
    "send_test",
]

log = logging.getLogger(__name__)

MONITORING_CHECK = "monitoring/run"
ROLLBACK_CHECK = "gate/auto_rollback"
Clock = Callable[[], datetime]


def run_url(
    tracking_uri: str | None, experiment_id: str, run_id: str, mlflow_url: str | None = None
) -> str:
    """Link to a run in the MLflow UI (``alerts.mlflow_url``, else an http tracking URI).

    Credentials in the URL (``https://user:token@host``) are dropped. Without an http base the
    link is ``runs:/<run_id>`` (a message then says there is no web link and how to get one).
    """
    base = mlflow_url or (tracking_uri if (tracking_uri or "").startswith("http") else None)
    if not base:
        return f"runs:/{run_id}"
    parts = urlsplit(base)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return f"{clean}/#/experiments/{experiment_id}/runs/{run_id}"


# -- workflow entry points -----------------------------------------------------------------------
def dispatch(
    spec: MonitorSpec,
    event: RunEvent,
    *,
    tracking_uri: str | None = None,
    clock: Clock | None = None,
    lock_wait_seconds: float = 60.0,
) -> AlertsReport:
    """Send this run's alerts under fatigue control; never raises (errors go in the report)."""
    now = (clock or _utc_now)()
    try:
        return _dispatch(spec, event, tracking_uri, now, lock_wait_seconds)
    except Exception as exc:
        reason = _one_line(exc, spec.alerts.channels)
        log.warning("alerts for %s v%s not dispatched: %s", event.model, event.version, reason)
        return _report(event, "error", error=reason)


def _dispatch(
    spec: MonitorSpec, event: RunEvent, tracking_uri: str | None, now: datetime, lock_wait: float
) -> AlertsReport:
    from mlflow_monitor.adapters.mlflow.alert_state import AlertStateStore
    from mlflow_monitor.workflows.adjudicate import standing_decisions

    channels = spec.alerts.channels
    if not channels:
        return _report(event, "no_channels", note="alerts.channels is empty")
    outcomes = [*event.outcomes, _monitoring_outcome(event)]
    store = AlertStateStore(event.model, event.version, tracking_uri=tracking_uri)
    try:
        lease = store.acquire(
            ttl_seconds=_lease_ttl(spec),
            wait_seconds=lock_wait,
            on_wait=_say_waiting(event.model, event.version),
        )
    except MonitorError as exc:
        if not event.reason:
            raise
        return _stateless(
            spec, event, outcomes, f"alert state unavailable ({exc}); sent without fatigue control"
        )
    if lease is None:
        return _report(
            event,
            "locked",
            note=f"another run of {event.model} v{event.version} "
            f"held the alert lease for {lock_wait:.0f}s; findings stay pending",
        )
    try:
        state = store.read()
        decided = standing_decisions(
            tracking_uri=tracking_uri, model=event.model, version=event.version, state=state
        )
        plan = plan_messages(
            channels,
            outcomes,
            state,
            window=event.window,
            now=now,
            cooldown_seconds=spec.alerts.cooldown,
            alerts=spec.alerts,
            adjudications=decided.standing,
            silences=decided.silences,
            version=event.version,
        )
        results = _send_all(spec, event, plan.items)
        delivered = {
            channel_key(c): r.items
            for c, r in zip(channels, results, strict=True)
            if r.status == "sent"
        }
        changed = new_marks(state, delivered, window=event.window, now=now)
        changed.update(
            escalation_marks(
                state,
                changed,
                outcomes,
                spec.alerts,
                now=now,
                run_id=event.run_id,
                window=event.window,
            )
        )
        store.write(lease, changed)
        _record_lapses(tracking_uri, plan.lapsed, now, event.window)
    finally:
        store.release(lease)
    return _report(event, _overall(results), channels=tuple(results), suppressed=plan.suppressed)


def _record_lapses(
    tracking_uri: str | None, lapsed: Sequence[Adjudication], now: datetime, window: str
) -> None:
    """The automatic reopens of dismissals that lapsed; a failure is logged, never raised."""
    if not lapsed:
        return
    from mlflow_monitor.workflows.adjudicate import record_lapses

    try:
        record_lapses(tracking_uri=tracking_uri, lapsed=lapsed, now=now, window=window)
    except Exception as exc:
        log.warning("automatic reopen of a lapsed dismissal not recorded: %s", exc)


def _send_all(
    spec: MonitorSpec, event: RunEvent, items: Mapping[str, tuple[AlertItem, ...]]
) -> list[ChannelResult]:
    results: list[ChannelResult] = []
    for channel in spec.alerts.channels:
        key = channel_key(channel)
        chosen = items.get(key, ())
        if not chosen:
            results.append(
                ChannelResult(key, printable_url(channel), channel.min_severity, "nothing_to_send")
            )
            continue
        title, body, notify = render_message(event, chosen)
        ok, reason, shown = deliver(channel, title, body, notify, spec.alerts.timeout_seconds)
        severity = "resolved" if notify == "success" else chosen[0].severity
        status: Literal["sent", "failed"] = "sent" if ok else "failed"
        log.info("alert to %s (%s): %s%s", key, shown, status, f" ({reason})" if reason else "")
        results.append(
            ChannelResult(key, shown, channel.min_severity, status, reason, severity, chosen)
        )
    return results


def _stateless(
    spec: MonitorSpec, event: RunEvent, outcomes: Sequence[CheckOutcome], note: str
) -> AlertsReport:
    """Without MLflow (it is what failed): send every visible finding, no fatigue control."""
    plan = plan_messages(
        spec.alerts.channels,
        outcomes,
        {},
        window=event.window,
        now=_utc_now(),
        cooldown_seconds=spec.alerts.cooldown,
    )
    results = _send_all(spec, event, plan.items)
    return _report(event, _overall(results), channels=tuple(results), note=note)


def notify_failure(
    spec: MonitorSpec,
    model: str,
    version: str,
    run_id: str | None,
    reason: str,
    window_start: datetime | str,
    window_end: datetime | str,
    tracking_uri: str | None = None,
    *,
    experiment_id: str | None = None,
    clock: Clock | None = None,
) -> AlertsReport:
    """Alert that monitoring itself failed for this window (health ``error``); never raises.

    The link points at the failed run (``experiment_id`` looked up when not given); without a
    run (validation failed before one existed) the message says so.
    """
    try:
        link = _failure_link(spec, model, run_id, tracking_uri, experiment_id)
    except Exception:  # MLflow may be what failed: the alert goes out without a UI link
        link = f"runs:/{run_id}"
    event = RunEvent(
        model,
        str(version),
        run_id or "",
        link,
        window_start,
        window_end,
        "error",
        (),
        reason=reason or "unknown error",
    )
    return dispatch(spec, event, tracking_uri=tracking_uri, clock=clock)


def _failure_link(
    spec: MonitorSpec,
    model: str,
    run_id: str | None,
    tracking_uri: str | None,
    experiment_id: str | None,
) -> str:
    if not run_id:
        return "(no run was created)"
    base = spec.alerts.mlflow_url or (tracking_uri or "")
    if not spec.alerts.channels or not base.startswith("http"):
        return run_url(tracking_uri, experiment_id or "", run_id, spec.alerts.mlflow_url)
    if experiment_id is None:
        from mlflow_monitor.adapters.mlflow.runs import MonitorRuns

        experiment_id = MonitorRuns(tracking_uri).experiment_id(model)
    return run_url(tracking_uri, experiment_id, run_id, spec.alerts.mlflow_url)


def notify_rollback(
    spec: MonitorSpec,
    model: str,
    version: str,
    run_id: str,
    message: str,
    moved: bool,
    *,
    tracking_uri: str | None = None,
    window_start: datetime | str = "",
    window_end: datetime | str = "",
    experiment_id: str | None = None,
) -> AlertsReport:
    """Alert an automatic rollback (or that nothing moved) to every channel; never raises.

    ``message`` is ``RollbackResult.message`` (one line per alias). Sent as one critical message
    per channel admitting critical, outside fatigue control: an alias move happens once, and a
    rollback that found no healthy predecessor is reported on every critical run that tries.
    """
    event = RunEvent(model, str(version), run_id, "", window_start, window_end, "critical", ())
    try:
        if not spec.alerts.channels:
            return _report(event, "no_channels", note="alerts.channels is empty")
        try:
            link = _failure_link(spec, model, run_id, tracking_uri, experiment_id)
        except Exception:  # the alias move is what matters; the alert goes out without a UI link
            link = f"runs:/{run_id}"
        title, body = _rollback_text(model, str(version), run_id, message, moved, link)
        item = AlertItem(
            "new", ROLLBACK_CHECK, "critical", "moved" if moved else "stuck", None, None, message
        )
        results = [_send_rollback(spec, c, title, body, item) for c in spec.alerts.channels]
        return _report(event, _overall(results), channels=tuple(results))
    except Exception as exc:
        reason = _one_line(exc, spec.alerts.channels)
        log.warning("rollback alert for %s v%s not sent: %s", model, version, reason)
        return _report(event, "error", error=reason)


def _rollback_text(
    model: str, version: str, run_id: str, message: str, moved: bool, link: str
) -> tuple[str, str]:
    """(title, body) of a rollback alert; the title says whether anything moved."""
    first = (message.strip().splitlines() or [f"{model} v{version} is critical"])[0]
    if moved:
        title = f"[CRITICAL] [mlflow-monitor] {first}"
        outcome = "The alias was moved back to the most recent previous holder still healthy."
    else:
        title = f"[CRITICAL] [mlflow-monitor] no healthy predecessor, nothing moved: {first}"
        outcome = "No healthy predecessor: nothing moved, the alias still points at the version."
    body = (
        f"Model {model} version {version} turned critical; automatic rollback ran. {outcome}\n"
        f"Run: {run_link_text(run_id, link)}\n\n{message.strip()}"
    )
    return title, body


def _send_rollback(
    spec: MonitorSpec, channel: AlertChannel, title: str, body: str, item: AlertItem
) -> ChannelResult:
    key = channel_key(channel)
    if severity_rank(channel.min_severity) > severity_rank("critical"):
        return ChannelResult(key, printable_url(channel), channel.min_severity, "nothing_to_send")
    ok, reason, shown = deliver(channel, title, body, "failure", spec.alerts.timeout_seconds)
    status: Literal["sent", "failed"] = "sent" if ok else "failed"
    log.info("rollback alert to %s (%s): %s", key, shown, status)
    return ChannelResult(key, shown, channel.min_severity, status, reason, "critical", (item,))


def notify_critical(
    spec: MonitorSpec, *, model: str, version: str, check_id: str, title: str, body: str
) -> AlertsReport:
    """One critical message per channel admitting critical, outside fatigue control (an event
    that happens once, e.g. an alias moved around its gate: ``workflows.bypass``); never raises.
    """
    event = RunEvent(model, str(version), "", "", "", "", "critical", ())
    try:
        if not spec.alerts.channels:
            return _report(event, "no_channels", note="alerts.channels is empty")
        first = (body.strip().splitlines() or [title])[0]
        item = AlertItem("new", check_id, "critical", "fired", None, None, first)
        results = [_send_rollback(spec, c, title, body, item) for c in spec.alerts.channels]
        return _report(event, _overall(results), channels=tuple(results))
    except Exception as exc:
        reason = _one_line(exc, spec.alerts.channels)
        log.warning("%s alert for %s v%s not sent: %s", check_id, model, version, reason)
        return _report(event, "error", error=reason)


def send_test(spec: MonitorSpec) -> list[ChannelResult]:
    """Send a test message to every channel of the spec; each channel's result."""
    title = f"[TEST] mlflow-monitor: {spec.model}"
    body = (
        f"Test message from mlflow-monitor on {socket.gethostname()} for model {spec.model}. "
        "If you read this, the channel works."
    )
    results: list[ChannelResult] = []
    for channel in spec.alerts.channels:
        ok, reason, shown = deliver(channel, title, body, "info", spec.alerts.timeout_seconds)
        results.append(
            ChannelResult(
                channel_key(channel),
                shown,
                channel.min_severity,
                "sent" if ok else "failed",
                reason,
                "info",
            )
        )
    return results


def failure_lines(report: AlertsReport) -> list[str]:
    """What went wrong, one console line per channel: ``[alerts] channel X: delivery failed: Y``.

    A dispatch that failed as a whole (``error``) or found the lease held (``locked``) is one
    line too; a report where everything was delivered, or nothing was due, gives none.
    """
    lines = [failed_line(c) for c in report.channels if c.status == "failed"]
    if report.status == "error":
        lines.append(f"[alerts] not dispatched: {report.error}")
    elif report.status == "locked":
        lines.append(f"[alerts] not sent: {report.note}")
    return lines


def failed_line(result: ChannelResult) -> str:
    """``[alerts] channel ops-pager: delivery failed: <reason>`` (the reason carries no secret)."""
    return f"[alerts] channel {result.channel}: delivery failed: {result.reason or 'no reason'}"


# -- small helpers -----------------------------------------------------------------------------
def _monitoring_outcome(event: RunEvent) -> CheckOutcome:
    """The synthetic check 'did monitoring run': fails with the reason, else passes (resolves)."""
    if event.reason:
        return CheckOutcome(
            MONITORING_CHECK,
            "monitoring",
            "error",
            "critical",
            None,
            None,
            f"monitoring failed: {event.reason}",
        )
    return CheckOutcome(
        MONITORING_CHECK, "monitoring", "pass", "critical", None, None, "monitoring ran"
    )


def _say_waiting(model: str, version: str) -> Callable[[LeaseHolder, Standing], None]:
    """Say once (a warning, on stderr from the CLI) whose alert lease this dispatch waits for.

    A held lease used to mean up to a minute of silence; the line names the holder, and says
    when the lease is taken over because its process is gone or its TTL has passed.
    """

    def say(holder: LeaseHolder, standing: Standing) -> None:
        line = f"waiting for the alert lease of {model} v{version} held by {holder.label}"
        if holder.taken_at is not None:
            line += f" since {_epoch_text(holder.taken_at)}"
        else:
            line += " (taken before holders were recorded)"
        expiry = _epoch_text(holder.expires)
        if standing == "gone":
            line += ": its process is gone, taking the lease over"
        elif standing == "expired":
            line += f": it expired at {expiry}, taking the lease over"
        else:
            line += f" (it expires at {expiry})"
        log.warning("%s", line)

    return say


def _epoch_text(seconds: float) -> str:
    return utc_text(datetime.fromtimestamp(seconds, timezone.utc))


def _lease_ttl(spec: MonitorSpec) -> float:
    per_channel = 2 * spec.alerts.timeout_seconds + 1
    return 60.0 + per_channel * max(1, len(spec.alerts.channels))


def _overall(results: Sequence[ChannelResult]) -> ReportStatus:
    tried = [r for r in results if r.status != "nothing_to_send"]
    if not tried:
        return "nothing_to_send"
    failed = sum(r.status == "failed" for r in tried)
    return "sent" if failed == 0 else ("failed" if failed == len(tried) else "partial")


def _report(event: RunEvent, status: ReportStatus, **fields: object) -> AlertsReport:
    report = AlertsReport(event.model, event.version, event.run_id, event.window, status)
    return replace(report, **fields)  # type: ignore[arg-type]


def _one_line(exc: BaseException, channels: Sequence[AlertChannel]) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return redact_secrets(f"{type(exc).__name__}: {text}"[:500], channels)


def _iso(moment: datetime | str) -> str:
    return moment if isinstance(moment, str) else utc_text(moment)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)

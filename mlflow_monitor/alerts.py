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
4. write the new marks only for channels that received their message, so a failed delivery is
   sent again by the next run; release the lease.

Secrets: channel URLs are resolved only inside ``alert_delivery.deliver``; every text that
leaves (report, logs, apprise's and urllib3's log records) shows apprise's privacy URL with any
resolved secret value replaced by its ``${NAME}``.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Literal, cast
from urllib.parse import urlsplit, urlunsplit

from mlflow_monitor.alert_delivery import deliver, printable_url, redact_secrets
from mlflow_monitor.checks import AppliedThreshold, CheckOutcome, Health
from mlflow_monitor.errors import MonitorError
from mlflow_monitor.spec import AlertChannel, MonitorSpec, Severity

__all__ = [
    "SEVERITY_RANK",
    "AlertItem",
    "AlertPlan",
    "AlertState",
    "AlertsReport",
    "ChannelMark",
    "ChannelResult",
    "CheckMarks",
    "ItemKind",
    "RunEvent",
    "Suppressed",
    "channel_key",
    "dispatch",
    "notify_failure",
    "notify_rollback",
    "plan_messages",
    "render_message",
    "run_url",
    "send_test",
]

log = logging.getLogger(__name__)

SEVERITY_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "critical": 2}
ItemKind = Literal["new", "escalated", "repeat", "resolved"]
ReportStatus = Literal[
    "sent", "partial", "failed", "nothing_to_send", "no_channels", "locked", "error"
]
MONITORING_CHECK = "monitoring/run"
ROLLBACK_CHECK = "gate/auto_rollback"
_KIND_ORDER: dict[ItemKind, int] = {"escalated": 0, "new": 1, "repeat": 2, "resolved": 3}
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RunEvent:
    """One monitoring run as alerts see it. ``reason`` set means the run itself failed."""

    model: str
    version: str
    run_id: str
    run_url: str
    window_start: datetime | str
    window_end: datetime | str
    health: Health
    outcomes: Sequence[CheckOutcome]
    reason: str = ""

    @property
    def window(self) -> str:
        """The window as text, ``start/end`` (ISO 8601): the idempotency key's window part."""
        return f"{_iso(self.window_start)}/{_iso(self.window_end)}"

    @property
    def window_text(self) -> str:
        """The window for people: ``start .. end`` (``up to end`` without a start)."""
        start, end = _iso(self.window_start), _iso(self.window_end)
        return f"{start} .. {end}" if start else f"up to {end}"


@dataclass(frozen=True)
class AlertItem:
    """One line of a message: a finding (or its resolution) for one check."""

    kind: ItemKind
    check_id: str
    severity: Severity
    status: str
    value: float | None
    threshold: AppliedThreshold | None
    message: str

    def to_dict(self) -> dict[str, object]:
        threshold = None
        if self.threshold is not None:
            t = self.threshold
            threshold = {"lower": t.lower, "upper": t.upper, "source": t.source, "note": t.note}
        return {
            "kind": self.kind,
            "check_id": self.check_id,
            "severity": self.severity,
            "status": self.status,
            "value": self.value,
            "threshold": threshold,
            "message": self.message,
        }


@dataclass(frozen=True)
class Suppressed:
    """A finding not sent to a channel this run, and why (``cooldown`` or ``duplicate``)."""

    check_id: str
    channel: str
    reason: Literal["cooldown", "duplicate"]


@dataclass(frozen=True)
class ChannelResult:
    """What happened on one channel: ``sent``, ``failed`` (with reason) or ``nothing_to_send``."""

    channel: str
    url: str
    min_severity: Severity
    status: Literal["sent", "failed", "nothing_to_send"]
    reason: str = ""
    severity: str | None = None
    items: tuple[AlertItem, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "url": self.url,
            "min_severity": self.min_severity,
            "status": self.status,
            "reason": self.reason,
            "severity": self.severity,
            "items": [i.to_dict() for i in self.items],
        }


@dataclass(frozen=True)
class AlertsReport:
    """Every channel's outcome for one run (``alerts.json``); ``error`` says what went wrong."""

    model: str
    version: str
    run_id: str
    window: str
    status: ReportStatus
    channels: tuple[ChannelResult, ...] = ()
    suppressed: tuple[Suppressed, ...] = ()
    error: str = ""
    note: str = ""

    @property
    def sent(self) -> tuple[ChannelResult, ...]:
        return tuple(c for c in self.channels if c.status == "sent")

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "version": self.version,
            "run_id": self.run_id,
            "window": self.window,
            "status": self.status,
            "error": self.error,
            "note": self.note,
            "channels": [c.to_dict() for c in self.channels],
            "suppressed": [
                {"check_id": s.check_id, "channel": s.channel, "reason": s.reason}
                for s in self.suppressed
            ],
        }


@dataclass(frozen=True)
class ChannelMark:
    """What one channel was last told about one check: severity, when, and for which windows."""

    severity: Severity
    sent_at: datetime
    windows: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckMarks:
    """A check's marks per channel key (channels never told about it are absent)."""

    check_id: str
    channels: Mapping[str, ChannelMark] = field(default_factory=dict)


AlertState = Mapping[str, CheckMarks]


@dataclass(frozen=True)
class AlertPlan:
    """What a run will send: per channel key the items (worst first), and what is held back."""

    items: dict[str, tuple[AlertItem, ...]]
    suppressed: tuple[Suppressed, ...]


# -- planning (pure) ---------------------------------------------------------------------------
def channel_key(channel: AlertChannel) -> str:
    """Stable identity of a channel in the alert state: its name, else a hash of its spec URL.

    The hash is of the unresolved URL (``${ENV}`` written as such), so no secret is involved.
    """
    return channel.name or "url-" + hashlib.sha1(channel.url.encode()).hexdigest()[:10]


def plan_messages(
    channels: Sequence[AlertChannel],
    outcomes: Sequence[CheckOutcome],
    state: AlertState,
    *,
    window: str,
    now: datetime,
    cooldown_seconds: float,
) -> AlertPlan:
    """Per channel, the items to send now (worst first) and the findings held back."""
    items: dict[str, list[AlertItem]] = {channel_key(c): [] for c in channels}
    suppressed: list[Suppressed] = []
    for outcome in outcomes:
        marks = state.get(outcome.check_id)
        told = marks.channels if marks is not None else {}
        for channel in channels:
            key = channel_key(channel)
            decision = _decide(outcome, channel, told.get(key), window, now, cooldown_seconds)
            if isinstance(decision, AlertItem):
                items[key].append(decision)
            elif decision is not None:
                suppressed.append(Suppressed(outcome.check_id, key, decision))
    ordered = {k: tuple(sorted(v, key=_worst_first)) for k, v in items.items()}
    return AlertPlan(ordered, tuple(suppressed))


def _decide(
    outcome: CheckOutcome,
    channel: AlertChannel,
    told: ChannelMark | None,
    window: str,
    now: datetime,
    cooldown_seconds: float,
) -> AlertItem | Literal["cooldown", "duplicate"] | None:
    """The state machine for one check on one channel (see the module docstring)."""
    visible = outcome.firing and _rank(outcome.severity) >= _rank(channel.min_severity)
    if not visible:
        if told is None or outcome.status == "insufficient_data":
            return None
        return _item("resolved", outcome)
    if told is None:
        return _item("new", outcome)
    if _rank(outcome.severity) > _rank(told.severity):
        return _item("escalated", outcome)
    if window in told.windows:
        return "duplicate"
    if (now - told.sent_at).total_seconds() >= cooldown_seconds:
        return _item("repeat", outcome)
    return "cooldown"


def _item(kind: ItemKind, outcome: CheckOutcome) -> AlertItem:
    return AlertItem(
        kind,
        outcome.check_id,
        outcome.severity,
        outcome.status,
        outcome.value,
        outcome.threshold,
        outcome.message,
    )


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(cast(Severity, severity), 0)


def _worst_first(item: AlertItem) -> tuple[int, int, int, str]:
    resolved = 1 if item.kind == "resolved" else 0
    return (resolved, -_rank(item.severity), _KIND_ORDER[item.kind], item.check_id)


def _new_marks(
    state: AlertState,
    sent: Mapping[str, tuple[AlertItem, ...]],
    *,
    window: str,
    now: datetime,
) -> dict[str, CheckMarks]:
    """Marks after delivery: only channels in ``sent`` (delivered) change."""
    changed: dict[str, CheckMarks] = {}
    for key, items in sent.items():
        for item in items:
            marks = changed.get(item.check_id) or state.get(item.check_id)
            if marks is None:
                marks = CheckMarks(item.check_id, {})
            channels = dict(marks.channels)
            if item.kind == "resolved":
                channels.pop(key, None)
            else:
                previous = channels.get(key)
                windows = (previous.windows if previous else ()) + (window,)
                channels[key] = ChannelMark(item.severity, now, windows)
            changed[item.check_id] = CheckMarks(item.check_id, channels)
    return changed


# -- messages ----------------------------------------------------------------------------------
def render_message(event: RunEvent, items: Sequence[AlertItem]) -> tuple[str, str, str]:
    """(title, body, apprise notify type) of one channel's message; one line per item."""
    firing = [i for i in items if i.kind != "resolved"]
    worst = max((i.severity for i in firing), key=_rank, default=None)
    label = worst.upper() if worst else "RESOLVED"
    counts = f"{len(firing)} finding(s)" + (
        f", {len(items) - len(firing)} resolved" if len(items) > len(firing) else ""
    )
    title = f"[{label}] {event.model} v{event.version}: {counts}"
    header = (
        f"Model {event.model} version {event.version}, window {event.window_text}, "
        f"health {event.health}. Run: {event.run_url}"
    )
    lines = [_line(event, item) for item in items]
    notify = {"critical": "failure", "warning": "warning", "info": "info"}.get(
        worst or "", "success"
    )
    return title, "\n".join([header, "", *lines]), notify


def _line(event: RunEvent, item: AlertItem) -> str:
    label = "RESOLVED" if item.kind == "resolved" else item.severity.upper()
    value = "n/a" if item.value is None else f"{item.value:.4g}"
    return (
        f"- {label} ({item.kind}) {event.model} v{event.version} {item.check_id}: "
        f"value {value}, threshold {_threshold_text(item.threshold)}, "
        f"window {event.window_text}, run {event.run_url} | {item.message}"
    )


def _threshold_text(threshold: AppliedThreshold | None) -> str:
    if threshold is None:
        return "none"
    low, high = threshold.lower, threshold.upper
    if low is not None and high is not None:
        bound = f"[{low:.4g}, {high:.4g}]"
    elif low is not None:
        bound = f">= {low:.4g}"
    elif high is not None:
        bound = f"<= {high:.4g}"
    else:
        bound = "none"
    return f"{bound} ({threshold.source})"


def run_url(
    tracking_uri: str | None, experiment_id: str, run_id: str, mlflow_url: str | None = None
) -> str:
    """Link to a run in the MLflow UI (``alerts.mlflow_url``, else an http tracking URI).

    Credentials in the URL (``https://user:token@host``) are dropped. Without an http base the
    link is ``runs:/<run_id>``.
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
    from mlflow_monitor.registry.alert_state import AlertStateStore

    channels = spec.alerts.channels
    if not channels:
        return _report(event, "no_channels", note="alerts.channels is empty")
    outcomes = [*event.outcomes, _monitoring_outcome(event)]
    store = AlertStateStore(event.model, event.version, tracking_uri=tracking_uri)
    try:
        lease = store.acquire(ttl_seconds=_lease_ttl(spec), wait_seconds=lock_wait)
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
        plan = plan_messages(
            channels,
            outcomes,
            state,
            window=event.window,
            now=now,
            cooldown_seconds=spec.alerts.cooldown,
        )
        results = _send_all(spec, event, plan.items)
        delivered = {
            channel_key(c): r.items
            for c, r in zip(channels, results, strict=True)
            if r.status == "sent"
        }
        store.write(lease, _new_marks(state, delivered, window=event.window, now=now))
    finally:
        store.release(lease)
    return _report(event, _overall(results), channels=tuple(results), suppressed=plan.suppressed)


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
        from mlflow_monitor.registry.runs import MonitorRuns

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
        title, body = _rollback_text(model, str(version), message, moved, link)
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
    model: str, version: str, message: str, moved: bool, link: str
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
        f"Run: {link}\n\n{message.strip()}"
    )
    return title, body


def _send_rollback(
    spec: MonitorSpec, channel: AlertChannel, title: str, body: str, item: AlertItem
) -> ChannelResult:
    key = channel_key(channel)
    if _rank(channel.min_severity) > _rank("critical"):
        return ChannelResult(key, printable_url(channel), channel.min_severity, "nothing_to_send")
    ok, reason, shown = deliver(channel, title, body, "failure", spec.alerts.timeout_seconds)
    status: Literal["sent", "failed"] = "sent" if ok else "failed"
    log.info("rollback alert to %s (%s): %s", key, shown, status)
    return ChannelResult(key, shown, channel.min_severity, status, reason, "critical", (item,))


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
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)

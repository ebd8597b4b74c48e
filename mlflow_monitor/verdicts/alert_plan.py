"""Alert planning (pure): which finding goes to which channel as new, escalated, repeat or resolved.

``plan_messages`` takes a run's outcomes, the channels and the state last written for the version
(``CheckMarks`` per check: what each channel was told, at which severity, when, for which windows)
and returns an ``AlertPlan``: the items per channel, worst first, the suppressed ones with their
reason, and the marks to write after delivery. ``render_message`` turns one channel's items into
the title, body and apprise notification type. No I/O: ``workflows.dispatch_alerts`` takes the
lease, reads and writes the state (``adapters.mlflow.alert_state``) and sends (apprise).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Health, utc_text
from mlflow_monitor.spec import AlertChannel, Severity

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
    "alert_key",
    "channel_key",
    "new_marks",
    "plan_messages",
    "render_message",
    "severity_rank",
]

SEVERITY_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "critical": 2}
ItemKind = Literal["new", "escalated", "repeat", "resolved"]
ReportStatus = Literal[
    "sent", "partial", "failed", "nothing_to_send", "no_channels", "locked", "error"
]
MONITORING_CHECK = "monitoring/run"
ROLLBACK_CHECK = "gate/auto_rollback"
_KIND_ORDER: dict[ItemKind, int] = {"escalated": 0, "new": 1, "repeat": 2, "resolved": 3}
Clock = Callable[[], datetime]
# A check not judged this window is not resolved: its earlier finding stays open, unsent.
_UNJUDGED = frozenset({"insufficient_data", "not_evaluated"})


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
        return f"{_text(self.window_start)}/{_text(self.window_end)}"

    @property
    def window_text(self) -> str:
        """The window for people: ``start .. end`` (``up to end`` without a start)."""
        start, end = _text(self.window_start), _text(self.window_end)
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
    key: str = ""  # the alert's identity (``alert_key``); the check id when empty

    @property
    def identity(self) -> str:
        return self.key or self.check_id

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
    reason: Literal["cooldown", "duplicate", "acknowledged"]


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
    """What one channel was last told about one alert: severity, when, for which windows, and
    who acknowledged it (an acknowledged alert is not repeated; it still escalates)."""

    severity: Severity
    sent_at: datetime
    windows: tuple[str, ...] = ()
    acknowledged_by: str | None = None


def alert_key(outcome: CheckOutcome) -> str:
    """The identity an alert's fatigue state is kept under, designed once for what comes next.

    A measured finding is keyed by its check id (what stores of earlier releases hold). A finding
    grouped under a root cause is keyed by the cause, so one cause is one alert however many
    checks show it. An estimated finding (judged before labels arrived) has its own key, so the
    same check confirmed by labels later is a new, realized alert. Acknowledgements are kept on
    the key's marks per channel (``ChannelMark.acknowledged_by``).
    """
    base = f"cause:{outcome.cause}" if outcome.cause else outcome.check_id
    return base if outcome.basis == "measured" else f"{base}@{outcome.basis}"


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
        marks = state.get(alert_key(outcome))
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
) -> AlertItem | Literal["cooldown", "duplicate", "acknowledged"] | None:
    """The state machine for one check on one channel (see the module docstring)."""
    visible = outcome.firing and severity_rank(outcome.severity) >= severity_rank(
        channel.min_severity
    )
    if not visible:
        if told is None or outcome.status in _UNJUDGED:
            return None
        return _item("resolved", outcome)
    if told is None:
        return _item("new", outcome)
    if severity_rank(outcome.severity) > severity_rank(told.severity):
        return _item("escalated", outcome)
    if window in told.windows:
        return "duplicate"
    if told.acknowledged_by:
        return "acknowledged"
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
        alert_key(outcome),
    )


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(cast(Severity, severity), 0)


def _worst_first(item: AlertItem) -> tuple[int, int, int, str]:
    resolved = 1 if item.kind == "resolved" else 0
    return (resolved, -severity_rank(item.severity), _KIND_ORDER[item.kind], item.check_id)


def new_marks(
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
            marks = changed.get(item.identity) or state.get(item.identity)
            if marks is None:
                marks = CheckMarks(item.identity, {})
            channels = dict(marks.channels)
            if item.kind == "resolved":
                channels.pop(key, None)
            else:
                previous = channels.get(key)
                windows = (previous.windows if previous else ()) + (window,)
                channels[key] = ChannelMark(item.severity, now, windows)
            changed[item.identity] = CheckMarks(item.identity, channels)
    return changed


# -- messages ----------------------------------------------------------------------------------
_TITLE_LABEL = {"healthy": "RESOLVED", "warning": "WARNING", "critical": "CRITICAL"}


def render_message(event: RunEvent, items: Sequence[AlertItem]) -> tuple[str, str, str]:
    """(title, body, apprise notify type) of one channel's message; one line per item."""
    firing = [i for i in items if i.kind != "resolved"]
    worst = max((i.severity for i in firing), key=severity_rank, default=None)
    # the title is the window's health: RESOLVED only when nothing fires in the window at all
    label = _TITLE_LABEL.get(event.health, event.health.upper())
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


def _text(moment: datetime | str) -> str:
    return moment if isinstance(moment, str) else utc_text(moment)

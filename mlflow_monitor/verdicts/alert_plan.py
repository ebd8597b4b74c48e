"""Alert planning (pure): which finding goes to which channel as new, escalated, repeat or resolved.

``plan_messages`` takes a run's outcomes, the channels and the state last written for the version
(``CheckMarks`` per alert key: what each channel was told, at which severity, when, for which
windows) and returns an ``AlertPlan``: the items per channel, worst first, the suppressed ones with
their reason, and the marks to write after delivery. Findings grouped under one root cause
(``verdicts.root_cause``) share one alert key and are decided together: one cause, one alert.
``render_message`` turns one channel's items into the title, body and apprise notification type.
No I/O: ``workflows.dispatch_alerts`` takes the lease, reads and writes the state
(``adapters.mlflow.alert_state``) and sends (apprise).

A message names the model, version, window and run once, in its header, with a web link to the
run (or says there is none); then one ``- `` line per alert, worst first (severity, then effect
size: ``|value - baseline|``, a p-value drift test's effect size, else the distance beyond the
bound), a cause's findings indented under it, bias drift folded to one line per attribute.
A cause whose findings take more than ``CAUSE_MEMBER_LINES`` lines is folded: its heading (with
its head finding, ``root_cause.cause_head``, when it has one: the share of drifted columns for
dataset drift), its ``FOLDED_MEMBERS`` worst lines (severity, then effect size) and ``... and N
more under this cause``; so one cause takes at most five lines and the other alerts (prediction
drift, performance, segments, quality, policy) stay in view. A level shift (``shift:<attr>``:
an attribute's groups all moved alike) is one line per attribute: ``race: fnr rose in every
group (+0.11 to +0.14): a level shift, not a gap between groups``. The message keeps to
``MAX_LINES`` lines and ``MAX_CHARS`` characters; what does not fit is counted on a last line
pointing at the run.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, cast

from mlflow_monitor.contract import (
    AppliedThreshold,
    Basis,
    CheckOutcome,
    Health,
    Interval,
    utc_text,
)
from mlflow_monitor.spec import AlertChannel, AlertsSpec, Severity
from mlflow_monitor.verdicts.escalation import (
    Adjudication,
    EscalationMark,
    Silence,
    admits,
    materially_changed,
    silence_for,
)
from mlflow_monitor.verdicts.root_cause import (
    bias_drift_parts,
    cause_head,
    cause_label,
    could_explain,
    level_shift_attribute,
)

__all__ = [
    "CAUSE_MEMBER_LINES",
    "FOLDED_MEMBERS",
    "MAX_CHARS",
    "MAX_LINES",
    "NO_WEB_LINK",
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
    "escalation_items",
    "escalation_marks",
    "finding_effect",
    "key_findings",
    "new_marks",
    "plan_messages",
    "render_message",
    "run_link_text",
    "severity_rank",
]

SEVERITY_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "critical": 2}
ItemKind = Literal["new", "escalated", "repeat", "resolved"]
# cooldown, duplicate, acknowledged, dismissed, or ``silenced <id>``
SuppressReason = str
ReportStatus = Literal[
    "sent", "partial", "failed", "nothing_to_send", "no_channels", "locked", "error"
]
MONITORING_CHECK = "monitoring/run"
ROLLBACK_CHECK = "gate/auto_rollback"
MAX_LINES = 20  # a message body's lines, header included
MAX_CHARS = 4000  # and characters
NO_WEB_LINK = "no web link: set alerts.mlflow_url"
CAUSE_MEMBER_LINES = 4  # a cause's lines under its heading before it is folded
FOLDED_MEMBERS = 3  # the lines a folded cause still shows, worst first
_LINE_CHARS = 400
_CAUSE_PREFIX = "cause:"
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
    """One finding (or its resolution) for one check, or for a cause no check carries any more.

    ``effect`` orders items of one severity (``|value - baseline|``, else the distance beyond the
    bound); ``change`` is a bias-drift finding's change against the baseline.
    """

    kind: ItemKind
    check_id: str
    severity: Severity
    status: str
    value: float | None
    threshold: AppliedThreshold | None
    message: str
    key: str = ""  # the alert's identity (``alert_key``); the check id when empty
    cause: str | None = None
    baseline: float | None = None
    interval: Interval | None = None
    change: float | None = None
    effect: float = 0.0

    @property
    def identity(self) -> str:
        return self.key or self.check_id

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "check_id": self.check_id,
            "severity": self.severity,
            "status": self.status,
            "value": self.value,
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
            "message": self.message,
            "cause": self.cause,
            "baseline": self.baseline,
            "interval": None if self.interval is None else self.interval.to_dict(),
        }


@dataclass(frozen=True)
class Suppressed:
    """A finding not sent to a channel this run, and why: ``cooldown``, ``duplicate``,
    ``acknowledged``, ``dismissed`` or ``silenced <silence id>``."""

    check_id: str
    channel: str
    reason: SuppressReason


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


def _cause_of_key(key: str) -> tuple[str, Basis] | None:
    """(cause, basis) of a ``cause:<cause>[@estimated]`` key; None for a check's key."""
    if not key.startswith(_CAUSE_PREFIX):
        return None
    cause, _, basis = key[len(_CAUSE_PREFIX) :].rpartition("@")
    if basis == "estimated" and cause:
        return cause, "estimated"
    return key[len(_CAUSE_PREFIX) :], "measured"


@dataclass(frozen=True)
class CheckMarks:
    """A check's marks per channel key (channels never told about it are absent), when its
    current episode began (first marked since it last resolved; None in older stores) and its
    escalation (``verdicts.escalation``; None without a policy for its severity)."""

    check_id: str
    channels: Mapping[str, ChannelMark] = field(default_factory=dict)
    opened_at: datetime | None = None
    escalation: EscalationMark | None = None


AlertState = Mapping[str, CheckMarks]


@dataclass(frozen=True)
class AlertPlan:
    """What a run will send: per channel key the items (worst first), what is held back, and
    the dismissals that lapsed because their finding changed materially."""

    items: dict[str, tuple[AlertItem, ...]]
    suppressed: tuple[Suppressed, ...]
    lapsed: tuple[Adjudication, ...] = ()


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
    alerts: AlertsSpec | None = None,
    adjudications: Mapping[str, Adjudication] | None = None,
    silences: Sequence[Silence] = (),
    version: str = "",
) -> AlertPlan:
    """Per channel, the items to send now (worst first) and the findings held back.

    The outcomes of one alert key (one cause) are decided together (``_decide``), and every
    finding of the key visible to the channel is listed with that decision. An alert kept under
    a cause that no outcome carries any more is resolved once its checks were judged
    (``_gone_causes``). Then, in order: a channel an escalation policy names hears of a new
    finding only from its step on (``escalation.admits``); an ack or dismissal standing for the
    key holds messages back (``_adjudicated``); a silence holding now suppresses the rest.
    """
    items: dict[str, list[AlertItem]] = {channel_key(c): [] for c in channels}
    suppressed: list[Suppressed] = []
    lapsed: list[Adjudication] = []
    groups = _by_key(outcomes)
    for key, members in groups.items():
        marks = state.get(key)
        told = marks.channels if marks is not None else {}
        firing = _firing_severity(members)
        standing = (adjudications or {}).get(key)
        lapse = (
            standing is not None
            and standing.action == "dismiss"
            and firing is not None
            and materially_changed(standing, firing, key_effect(members))
        )
        if lapse and standing is not None:
            lapsed.append(standing)
        for channel in channels:
            ck = channel_key(channel)
            mark = told.get(ck)
            decision = _decide(members, channel, mark, window, now, cooldown_seconds)
            if decision is None or (
                mark is None and not _admitted(alerts, ck, firing, marks, now)
            ):
                continue
            decision = _adjudicated(decision, standing, firing, lapse=lapse)
            shown = _shown(members, channel, resolved=decision == "resolved")
            if decision in _KIND_ORDER:
                checks = [key, *(o.check_id for o in shown)]
                silence = silence_for(silences, version=version, checks=checks, channel=ck, now=now)
                if silence is None:
                    items[ck] += [_item(decision, o) for o in shown]
                    continue
                decision = f"silenced {silence.silence_id}"
            suppressed += [Suppressed(o.check_id, ck, decision) for o in shown]
    for ck, item in _gone_causes(channels, outcomes, state, set(groups)):
        items[ck].append(item)
    ordered = {k: tuple(sorted(v, key=_worst_first)) for k, v in items.items()}
    return AlertPlan(ordered, tuple(suppressed), tuple(lapsed))


def _firing_severity(members: Sequence[CheckOutcome]) -> Severity | None:
    """The worst severity among the key's firing findings (None: nothing fires)."""
    firing = [o.severity for o in members if o.firing]
    if not firing:
        return None
    worst: Severity = max(firing, key=severity_rank)
    return worst


def _admitted(
    alerts: AlertsSpec | None,
    channel: str,
    firing: Severity | None,
    marks: CheckMarks | None,
    now: datetime,
) -> bool:
    """A channel not told yet hears of the finding when its escalation step (if any) is due."""
    if alerts is None or firing is None:
        return True
    held = marks.escalation if marks is not None else None
    elapsed = (now - held.since).total_seconds() if held and held.severity == firing else 0.0
    return admits(alerts, channel, firing, elapsed_seconds=elapsed)


def _adjudicated(
    decision: str, standing: Adjudication | None, firing: Severity | None, *, lapse: bool
) -> str:
    """The decision once an ack or dismissal is taken into account (``verdicts.escalation``).

    A dismissal that lapsed sends the finding again, past its cooldown (``escalated``: it got
    worse). An ack holds back repeats and first messages at the severity it was made at; a
    dismissal holds back every message but the resolution.
    """
    if standing is None or standing.action == "reopen" or decision in ("duplicate", "resolved"):
        return decision
    if standing.action == "dismiss":
        if lapse:
            return "escalated" if decision in ("cooldown", "repeat", "acknowledged") else decision
        return "dismissed"
    covered = severity_rank(firing or "info") <= severity_rank(standing.severity or "critical")
    if covered and decision in ("new", "repeat"):
        return "acknowledged"
    return decision


def key_effect(members: Sequence[CheckOutcome]) -> float:
    """The largest effect size among the key's firing findings (0 when none fires)."""
    return max((_effect(o) for o in members if o.firing), default=0.0)


def key_findings(outcomes: Sequence[CheckOutcome]) -> dict[str, tuple[Severity | None, float]]:
    """Per alert key of ``outcomes``: its worst firing severity (None: not firing) and effect."""
    return {k: (_firing_severity(m), key_effect(m)) for k, m in _by_key(outcomes).items()}


def escalation_items(
    outcomes: Sequence[CheckOutcome], key: str, severity: Severity
) -> tuple[AlertItem, ...]:
    """The firing findings of one alert key as ``escalated`` items (for an escalation step's
    message); one item saying it still fires when the run's results do not carry the key."""
    found = [_item("escalated", o) for o in outcomes if alert_key(o) == key and o.firing]
    if found:
        return tuple(sorted(found, key=_worst_first))
    note = "still firing, unacknowledged (see the run)"
    return (AlertItem("escalated", key, severity, "fail", None, None, note, key),)


def finding_effect(outcome: CheckOutcome) -> float:
    """How far one finding is from normal (the effect size that orders and dismisses it)."""
    return _effect(outcome)


def escalation_marks(
    state: AlertState,
    changed: Mapping[str, CheckMarks],
    outcomes: Sequence[CheckOutcome],
    alerts: AlertsSpec,
    *,
    now: datetime,
    run_id: str,
    window: str,
) -> dict[str, CheckMarks]:
    """The keys whose escalation changes after a delivery (merged over ``changed``).

    A firing key with steps for its severity keeps its clock while the severity stays (a new
    severity restarts it) and marks each due step sent once every channel of the step was told
    (or cannot hear the severity); a key that resolved, or lost its policy, drops it.
    """
    merged: dict[str, CheckMarks] = {**state, **changed}
    out: dict[str, CheckMarks] = {}
    levels = {channel_key(c): c.min_severity for c in alerts.channels}
    groups = _by_key(outcomes)
    for key, marks in merged.items():
        if key not in groups and marks.escalation is not None and not marks.channels:
            out[key] = replace(marks, escalation=None)
    for key, members in groups.items():
        marks = merged.get(key) or CheckMarks(key, {}, opened_at=now)
        previous = marks.escalation
        firing = _firing_severity(members)
        steps = alerts.escalation.get(firing) if firing is not None else None
        if firing is None or not steps:
            unjudged = all(o.status in _UNJUDGED for o in members)
            held = previous if firing is None and unjudged else None
            if held != previous:
                out[key] = replace(marks, escalation=held)
            continue
        fresh = previous is None or previous.severity != firing
        if fresh and not marks.channels and steps[0].after <= 0:
            # the clock starts with the first message (held back: silenced, failed, dismissed)
            if previous is not None:
                out[key] = replace(marks, escalation=None)
            continue
        since, sent = (now, ()) if fresh or previous is None else (previous.since, previous.steps)
        elapsed = (now - since).total_seconds()
        done = set(sent)
        for index, step in enumerate(steps):
            if index not in done and step.after <= elapsed:
                deaf = [c for c in step.channels if _rank(levels.get(c)) > severity_rank(firing)]
                if all(c in marks.channels or c in deaf for c in step.channels):
                    done.add(index)
        mark = EscalationMark(firing, since, tuple(sorted(done)), run_id, window)
        if mark != previous:
            opened = marks.opened_at or now
            out[key] = replace(marks, escalation=mark, opened_at=opened)
    return out


def _by_key(outcomes: Sequence[CheckOutcome]) -> dict[str, list[CheckOutcome]]:
    groups: dict[str, list[CheckOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(alert_key(outcome), []).append(outcome)
    return groups


def _visible(outcome: CheckOutcome, channel: AlertChannel) -> bool:
    return outcome.firing and severity_rank(outcome.severity) >= severity_rank(channel.min_severity)


def _decide(
    members: Sequence[CheckOutcome],
    channel: AlertChannel,
    told: ChannelMark | None,
    window: str,
    now: datetime,
    cooldown_seconds: float,
) -> ItemKind | SuppressReason | None:
    """The state machine for one alert key on one channel (see the module docstring)."""
    visible = [o for o in members if _visible(o, channel)]
    if not visible:
        if told is None or all(o.status in _UNJUDGED for o in members):
            return None
        return "resolved"
    worst = max((o.severity for o in visible), key=severity_rank)
    if told is None:
        return "new"
    if severity_rank(worst) > severity_rank(told.severity):
        return "escalated"
    if window in told.windows:
        return "duplicate"
    if told.acknowledged_by:
        return "acknowledged"
    if (now - told.sent_at).total_seconds() >= cooldown_seconds:
        return "repeat"
    return "cooldown"


def _shown(
    members: Sequence[CheckOutcome], channel: AlertChannel, *, resolved: bool
) -> list[CheckOutcome]:
    if resolved:
        return [o for o in members if o.status not in _UNJUDGED]
    return [o for o in members if _visible(o, channel)]


def _gone_causes(
    channels: Sequence[AlertChannel],
    outcomes: Sequence[CheckOutcome],
    state: AlertState,
    present: set[str],
) -> list[tuple[str, AlertItem]]:
    """(channel key, resolved item) for each cause alert no outcome carries any more.

    Resolved only when this run judged a check the cause covers (of the same basis): a window
    that judged none of them (no labels, a failed run) leaves the alert open, as for a check.
    """
    out: list[tuple[str, AlertItem]] = []
    for key, marks in sorted(state.items()):
        parsed = _cause_of_key(key)
        if key in present or parsed is None:
            continue
        cause, basis = parsed
        judged = [
            o
            for o in outcomes
            if o.basis == basis and o.status not in _UNJUDGED and could_explain(cause, o)
        ]
        if not judged:
            continue
        still = sum(o.firing for o in judged)
        why = (
            f"{still} of its checks still fire, listed on their own"
            if still
            else "its checks pass again"
        )
        for channel in channels:
            mark = marks.channels.get(channel_key(channel))
            if mark is not None:
                item = AlertItem(
                    "resolved", cause, mark.severity, "pass", None, None, why, key, cause
                )
                out.append((channel_key(channel), item))
    return out


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
        outcome.cause,
        _baseline(outcome),
        outcome.interval,
        _change(outcome),
        _effect(outcome),
    )


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(cast(Severity, severity), 0)


def _rank(severity: str | None) -> int:
    return severity_rank(severity or "info")


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
    """Marks after delivery: only channels in ``sent`` (delivered) change.

    Several items of one alert key (a cause's findings) make one mark per channel, at their
    worst severity, with the window recorded once.
    """
    changed: dict[str, CheckMarks] = {}
    for key, items in sent.items():
        marked: set[str] = set()  # identities marked on this channel by this delivery
        for item in items:
            marks = changed.get(item.identity) or state.get(item.identity)
            if marks is None:
                marks = CheckMarks(item.identity, {}, opened_at=now)
            elif not marks.channels and item.kind != "resolved":
                marks = replace(marks, opened_at=marks.opened_at or now)
            channels = dict(marks.channels)
            previous = channels.get(key)
            if item.kind == "resolved":
                channels.pop(key, None)
            elif item.identity in marked and previous is not None:
                worst = max(previous.severity, item.severity, key=severity_rank)
                channels[key] = replace(previous, severity=worst)
            else:
                windows = (previous.windows if previous else ()) + (window,)
                channels[key] = ChannelMark(item.severity, now, windows)
                marked.add(item.identity)
            changed[item.identity] = replace(marks, channels=channels)
    return changed


# -- effect sizes ------------------------------------------------------------------------------
_BASELINE_NOTE = re.compile(r"baseline=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _baseline(outcome: CheckOutcome) -> float | None:
    """The baseline's value: the outcome's, its evidence's, or the bound's ``baseline=`` note."""
    if outcome.baseline is not None:
        return outcome.baseline
    for name in ("baseline", "baseline_value"):
        found = _number(outcome.evidence.get(name))
        if found is not None:
            return found
    note = _BASELINE_NOTE.search(outcome.threshold.note) if outcome.threshold else None
    return float(note.group(1)) if note else None


def _change(outcome: CheckOutcome) -> float | None:
    """A bias-drift finding's change against the baseline (None for other checks).

    From the evidence (window and baseline values, else ``change``), else value minus baseline;
    results written before outcomes carried a baseline hold the change as the value.
    """
    if bias_drift_parts(outcome.check_id) is None:
        return None
    ev = outcome.evidence
    current, base = _number(ev.get("current_value")), _number(ev.get("baseline_value"))
    if current is not None and base is not None:
        return current - base
    if _number(ev.get("change")) is not None:
        return _number(ev.get("change"))
    if outcome.value is not None and outcome.baseline is not None:
        return outcome.value - outcome.baseline
    return outcome.value


def _effect(outcome: CheckOutcome) -> float:
    """How far the finding is from normal: ``|value - baseline|``, else beyond the bound.

    A drift test judged on a p-value (ks, chi-square, z) has its effect size in the evidence
    (``effect``: D, JS, ``|dp|``): that orders it, not the p-value's distance below alpha.
    """
    change = _change(outcome)
    if change is not None:
        return abs(change)
    size = _number(outcome.evidence.get("effect")) if outcome.kind == "drift" else None
    if size is not None:
        return abs(size)
    value, base = _number(outcome.value), _baseline(outcome)
    if value is None:
        return 0.0
    if base is not None:
        return abs(value - base)
    low, high = _bounds(outcome.threshold)
    if low is not None and value < low:
        return low - value
    if high is not None and value > high:
        return value - high
    return 0.0


def _bounds(threshold: AppliedThreshold | None) -> tuple[float | None, float | None]:
    """The finite bounds of a threshold (an infinite bound is no bound)."""
    if threshold is None:
        return None, None
    return _number(threshold.lower), _number(threshold.upper)


# -- messages ----------------------------------------------------------------------------------
_TITLE_LABEL = {"healthy": "RESOLVED", "warning": "WARNING", "critical": "CRITICAL"}


@dataclass(frozen=True)
class _Line:
    """One body line and the number of items it stands for (a cause's heading: 0, or 1 when it
    carries the cause's head finding)."""

    text: str
    items: int
    heading: bool = False


@dataclass(frozen=True)
class _Block:
    """One alert (a cause with its findings, one finding, or one attribute's bias drift)."""

    items: tuple[AlertItem, ...]
    cause: str | None = None

    @property
    def resolved(self) -> bool:
        return all(i.kind == "resolved" for i in self.items)

    @property
    def order(self) -> tuple[int, int, float, str]:
        worst = max(severity_rank(i.severity) for i in self.items)
        effect = max(i.effect for i in self.items)
        return (int(self.resolved), -worst, -effect, self.items[0].check_id)


def render_message(event: RunEvent, items: Sequence[AlertItem]) -> tuple[str, str, str]:
    """(title, body, apprise notify type) of one channel's message (see the module docstring)."""
    firing = [i for i in items if i.kind != "resolved"]
    worst = max((i.severity for i in firing), key=severity_rank, default=None)
    # the title is the window's health: RESOLVED only when nothing fires in the window at all
    label = _TITLE_LABEL.get(event.health, event.health.upper())
    counts = f"{len(firing)} finding(s)" + (
        f", {len(items) - len(firing)} resolved" if len(items) > len(firing) else ""
    )
    title = f"[{label}] {event.model} v{event.version}: {counts}"
    link = run_link_text(event.run_id, event.run_url)
    header = [
        f"Model {event.model} version {event.version}, window {event.window_text}, "
        f"health {event.health}.",
        f"Run: {link}",
        "",
    ]
    lines = [line for block in _blocks(items) for line in _block_lines(block)]
    notify = {"critical": "failure", "warning": "warning", "info": "info"}.get(
        worst or "", "success"
    )
    return title, "\n".join(_bounded(header, lines, link)), notify


def run_link_text(run_id: str, url: str) -> str:
    """The run for people: its web link, else its id and how to get a link."""
    if url.startswith(("http://", "https://")):
        return url
    if run_id:
        return f"run {run_id} ({NO_WEB_LINK})"
    return url or "(no run)"


def _blocks(items: Sequence[AlertItem]) -> list[_Block]:
    """Items grouped into alerts, worst first: by cause key, bias drift by attribute."""
    grouped: dict[tuple[str, ...], list[AlertItem]] = {}
    for index, item in enumerate(items):
        parts = bias_drift_parts(item.check_id)
        if item.cause:
            key: tuple[str, ...] = ("cause", item.identity)
        elif parts is not None:
            key = ("bias", parts[0], str(item.kind == "resolved"))
        else:
            key = ("item", str(index))
        grouped.setdefault(key, []).append(item)
    blocks = [
        _Block(tuple(sorted(g, key=_item_order)), g[0].cause if k[0] == "cause" else None)
        for k, g in grouped.items()
    ]
    return sorted(blocks, key=lambda b: b.order)


def _item_order(item: AlertItem) -> tuple[int, float, str]:
    return (-severity_rank(item.severity), -item.effect, item.check_id)


def _block_lines(block: _Block) -> list[_Line]:
    first = block.items[0]
    label = _label(block.items)
    if block.cause is None:
        return [_Line(f"- {label} {_item_text(block.items)}", len(block.items))]
    estimated = " (estimated)" if first.identity.endswith("@estimated") else ""
    name = cause_label(block.cause) + estimated
    if len(block.items) == 1 and first.check_id == block.cause:  # a cause no check carries now
        return [_Line(f"- {label} {name}: {first.message}", 1)]
    attribute = level_shift_attribute(block.cause)
    if attribute is not None:  # one line: the attribute's groups all moved alike
        text = f"- {label} {_shift_text(attribute, block.items)}{estimated}"
        return [_Line(text, len(block.items))]
    heading = f"- {label} {name}: {_count(len(block.items), 'finding')}"
    members: dict[str, list[AlertItem]] = {}  # one line per finding, per attribute's bias drift
    for index, item in enumerate(block.items):
        parts = bias_drift_parts(item.check_id)
        members.setdefault(f"bias:{parts[0]}" if parts else str(index), []).append(item)
    lines = list(members.values())
    if len(lines) <= CAUSE_MEMBER_LINES:
        return [_Line(heading, 0, True)] + [_Line(f"    {_item_text(m)}", len(m)) for m in lines]
    return _folded(heading, block.cause, lines)


def _folded(heading: str, cause: str, lines: list[list[AlertItem]]) -> list[_Line]:
    """A cause's heading (with its head finding), its worst member lines and the rest counted."""
    head = next((m for m in lines if len(m) == 1 and m[0].check_id == cause_head(cause)), None)
    top = _Line(heading, 0, True)
    if head is not None:
        lines = [m for m in lines if m is not head]
        top = _Line(f"{heading}; {_finding_text(head[0])}", 1, True)
    lines.sort(key=lambda m: min(_item_order(i) for i in m))  # worst first: severity, effect
    shown, rest = lines[:FOLDED_MEMBERS], lines[FOLDED_MEMBERS:]
    left = sum(len(m) for m in rest)
    more = _Line(f"    ... and {left} more under this cause", left)
    return [top, *(_Line(f"    {_item_text(m)}", len(m)) for m in shown), more]


_NOT_A_GAP = "a level shift, not a gap between groups"


def _shift_text(attribute: str, items: Sequence[AlertItem]) -> str:
    """``race: fnr rose in every group (+0.11 to +0.14): a level shift, not a gap between
    groups``; several metrics of the attribute on one line, the largest change first."""
    if all(i.kind == "resolved" for i in items):
        return f"{attribute}: level shift back to normal ({_count(len(items), 'group metric')})"
    by_metric: dict[str, list[float]] = {}
    for item in items:
        parts = bias_drift_parts(item.check_id)
        if parts is not None and item.change is not None:
            by_metric.setdefault(parts[2], []).append(item.change)
    ranked = sorted(by_metric.items(), key=lambda kv: (-max(abs(c) for c in kv[1]), kv[0]))
    moves = [(metric, _moved(changes)) for metric, changes in ranked]
    if len(moves) == 1:
        metric, (way, span) = moves[0]
        return f"{attribute}: {metric} {way} in every group ({span}): {_NOT_A_GAP}"
    listed = ", ".join(f"{metric} {way} ({span})" for metric, (way, span) in moves)
    heading = f"{attribute}: a level shift in every group, not a gap between groups"
    return f"{heading}: {listed}" if listed else heading


def _moved(changes: list[float]) -> tuple[str, str]:
    """(``rose``/``fell``, ``+0.11 to +0.14``): the direction and the span, smallest first."""
    way = "rose" if sum(changes) > 0 else "fell"
    by_size = sorted(changes, key=abs)
    small, large = f"{by_size[0]:+.2f}", f"{by_size[-1]:+.2f}"
    return way, small if small == large else f"{small} to {large}"


def _label(items: Sequence[AlertItem]) -> str:
    """``CRITICAL (new)``: the worst severity and the most urgent kind of the items."""
    kind = min((i.kind for i in items), key=lambda k: _KIND_ORDER[k])
    if kind == "resolved":
        return "RESOLVED (resolved)"
    worst = max((i.severity for i in items), key=severity_rank)
    return f"{worst.upper()} ({kind})"


def _item_text(items: Sequence[AlertItem]) -> str:
    """One finding's text, or one attribute's bias drift folded: count and the largest change."""
    if len(items) == 1:
        return _finding_text(items[0])
    largest = min(items, key=lambda i: (-i.effect, i.check_id))
    parts = bias_drift_parts(largest.check_id)
    assert parts is not None  # several items on one line are one attribute's bias drift
    attribute, group, metric = parts
    if all(i.kind == "resolved" for i in items):
        return f"bias drift on {attribute}: {_count(len(items), 'group metric')} back to normal"
    change = "" if largest.change is None else f" {largest.change:+.2g}"
    return (
        f"bias drift on {attribute}: {_count(len(items), 'group metric')} changed, "
        f"largest {attribute}={group} {metric}{change}"
    )


def _finding_text(item: AlertItem) -> str:
    """``check: value V [interval], baseline B, allowed >= L (source)``, the message when no
    bound or no value says it; a bias-drift finding's interval is its change's."""
    value = "" if item.value is None else f"value {_num(item.value)}"
    change = "" if item.change is None else f"change {item.change:+.3g}"
    interval = "" if item.interval is None else f" {item.interval.text()}"
    of = item.interval.of if item.interval is not None else "value"
    if of in ("drop", "rise") and item.value is not None and item.baseline is not None:
        size = item.baseline - item.value if of == "drop" else item.value - item.baseline
        change = f"{of} {_num(size)}{interval}"  # the interval is the drop's, not the value's
    elif change:
        change += interval
    elif value:
        value += interval
    baseline = "" if item.baseline is None else f"baseline {_num(item.baseline)}"
    allowed = _allowed(item.threshold)
    message = item.message if not allowed or item.value is None else ""
    parts = [value, change, baseline, allowed, message]
    return f"{item.check_id}: " + ", ".join(p for p in parts if p)


def _allowed(threshold: AppliedThreshold | None) -> str:
    """``allowed >= 0.72 (baseline)``; "" when the threshold bounds nothing."""
    low, high = _bounds(threshold)
    if threshold is None or (low is None and high is None):
        return ""
    if low is not None and high is not None:
        bound = f"allowed {_num(low)} to {_num(high)}"
    elif low is not None:
        bound = f"allowed >= {_num(low)}"
    else:
        bound = f"allowed <= {_num(high)}"
    source = threshold.note if threshold.source == "drift_method" and threshold.note else None
    return f"{bound} ({source or threshold.source})"


def _bounded(header: list[str], lines: list[_Line], link: str) -> list[str]:
    """The header and as many lines as fit ``MAX_LINES``/``MAX_CHARS``, then what is left out."""
    texts = [_clip(line.text) for line in lines]
    if _fits(header + texts):
        return header + texts
    for keep in range(len(lines) - 1, -1, -1):
        if keep and lines[keep - 1].heading:
            continue  # never end on a cause's heading without its findings
        left = sum(line.items for line in lines[keep:])
        tail = f"and {_count(left, 'more finding')}: {link}"
        if _fits([*header, *texts[:keep], tail]):
            return [*header, *texts[:keep], tail]
    return [*header, f"{_count(sum(x.items for x in lines), 'finding')}: {link}"]


def _fits(lines: list[str]) -> bool:
    return len(lines) <= MAX_LINES and len("\n".join(lines)) <= MAX_CHARS


def _clip(text: str) -> str:
    return text if len(text) <= _LINE_CHARS else text[: _LINE_CHARS - 3] + "..."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _text(moment: datetime | str) -> str:
    return moment if isinstance(moment, str) else utc_text(moment)

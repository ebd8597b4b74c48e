"""Escalation timing, adjudication standing, materiality and silences (pure: injected times)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome
from mlflow_monitor.spec import AlertsSpec, Severity
from mlflow_monitor.verdicts.alert_plan import (
    ChannelMark,
    CheckMarks,
    escalation_marks,
    plan_messages,
)
from mlflow_monitor.verdicts.escalation import (
    Adjudication,
    AdjudicationAction,
    EscalationMark,
    Silence,
    admits,
    current_adjudications,
    due_steps,
    materially_changed,
    silence_for,
)

T0 = datetime(2025, 3, 3, 12, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
ALERTS = AlertsSpec.model_validate(
    {
        "channels": [
            {"name": "slack", "url": "json://h/slack"},
            {"name": "pager", "url": "json://h/pager", "min_severity": "critical"},
            {"name": "email", "url": "json://h/email"},
        ],
        "escalation": {
            "critical": [
                {"after": "0m", "channels": ["slack"]},
                {"after": "30m", "channels": ["pager"]},
                {"after": "2h", "channels": ["email"]},
            ]
        },
    }
)
KEY = "performance/f1"


def decision(
    action: AdjudicationAction,
    minutes: float,
    severity: Severity | None = "critical",
    effect: float | None = 0.1,
    key: str = KEY,
) -> Adjudication:
    return Adjudication(
        action, "m", "1", key, key, "ana", T0 + minutes * MIN, "r", severity, effect
    )


def finding(value: float, severity: Severity = "critical") -> CheckOutcome:
    threshold = AppliedThreshold(0.7, None, "static")
    return CheckOutcome(KEY, "performance", "fail", severity, value, threshold, "low")


@pytest.mark.parametrize(
    ("minutes", "steps_sent", "expected"),
    [(0, (), [0]), (29, (0,), []), (31, (0,), [1]), (40, (0, 1), []), (121, (0,), [1, 2])],
)
def test_due_steps_follow_the_clock_and_each_is_sent_once(
    minutes: float, steps_sent: tuple[int, ...], expected: list[int]
) -> None:
    mark = EscalationMark("critical", T0, steps_sent)
    due = due_steps({KEY: mark}, ALERTS.escalation, {}, now=T0 + minutes * MIN)
    assert [d.step for d in due] == expected


def test_an_ack_or_dismissal_at_the_severity_holds_escalation_a_rise_does_not() -> None:
    mark = EscalationMark("critical", T0, (0,))
    later = T0 + 31 * MIN
    for action in ("ack", "dismiss"):
        held = {KEY: decision(action, 5)}  # type: ignore[arg-type]
        assert due_steps({KEY: mark}, ALERTS.escalation, held, now=later) == []
    warning_ack = {KEY: decision("ack", 5, severity="warning")}
    assert [d.step for d in due_steps({KEY: mark}, ALERTS.escalation, warning_ack, now=later)] == [
        1
    ]


def test_named_channels_hear_only_from_their_step_others_as_before() -> None:
    assert admits(ALERTS, "slack", "critical")
    assert not admits(ALERTS, "pager", "critical", elapsed_seconds=29 * 60)
    assert admits(ALERTS, "pager", "critical", elapsed_seconds=30 * 60)
    assert admits(ALERTS, "slack", "warning")  # no steps for warnings: min_severity decides
    assert admits(ALERTS, "other", "critical")  # named in no step


def test_the_standing_decision_is_the_newest_of_the_current_episode() -> None:
    history = [decision("dismiss", 1), decision("ack", 2), decision("reopen", 3)]
    assert current_adjudications(history, {KEY: None}) == {}
    assert current_adjudications(history[:2], {KEY: None})[KEY].action == "ack"
    # the finding resolved and fired again after the decisions: a new episode, nothing stands
    assert current_adjudications(history[:2], {KEY: T0 + 10 * MIN}) == {}
    assert current_adjudications(history[:2], {}) == {}  # not firing: no standing


@pytest.mark.parametrize(
    ("severity", "effect", "changed"),
    [
        ("warning", 0.12, False),
        ("warning", 0.19, False),
        ("warning", 0.2, True),
        ("critical", 0.1, True),
    ],
)
def test_materially_changed_means_worse_severity_or_double_effect(
    severity: Severity, effect: float, changed: bool
) -> None:
    dismissal = decision("dismiss", 0, severity="warning", effect=0.1)
    assert materially_changed(dismissal, severity, effect) is changed


def _silence(**fields: object) -> Silence:
    base: dict[str, object] = {
        "silence_id": "s1",
        "model": "m",
        "until": T0 + 60 * MIN,
        "reason": "r",
        "user": "ops",
        "created_at": T0,
    }
    return Silence(**{**base, **fields})  # type: ignore[arg-type]


def test_a_silence_applies_to_its_scope_while_it_holds() -> None:
    def applies(
        silence: Silence, minutes: float = 5, version: str = "1", channel: str = "slack"
    ) -> bool:
        found = silence_for(
            [silence], version=version, checks=[KEY], channel=channel, now=T0 + minutes * MIN
        )
        return found is not None

    model_wide = _silence()
    assert applies(model_wide) and applies(model_wide, version="7")
    assert not applies(model_wide, minutes=60) and not applies(model_wide, minutes=-1)
    assert not applies(_silence(ended_at=T0 + 2 * MIN))
    assert not applies(_silence(version="2")) and applies(_silence(version="1"))
    assert not applies(_silence(check="drift/age")) and applies(_silence(check=KEY))
    assert not applies(_silence(channel="pager")) and applies(_silence(channel="slack"))


def test_plan_routes_escalation_channels_and_records_the_clock() -> None:
    outcome = finding(0.5)
    plan = plan_messages(
        ALERTS.channels, [outcome], {}, window="w1", now=T0, cooldown_seconds=86400, alerts=ALERTS
    )
    assert [k for k, items in plan.items.items() if items] == ["slack"]
    told = {KEY: CheckMarks(KEY, {"slack": ChannelMark("critical", T0, ("w1",))}, T0)}
    marks = escalation_marks({}, told, [outcome], ALERTS, now=T0, run_id="r1", window="w1")
    assert marks[KEY].escalation == EscalationMark("critical", T0, (0,), "r1", "w1")
    # nothing told yet (a silence held the message back): the clock does not start
    assert escalation_marks({}, {}, [outcome], ALERTS, now=T0, run_id="r1", window="w1") == {}
    # it resolves: the escalation ends
    passed = CheckOutcome(KEY, "performance", "pass", "critical", 0.8, None, "ok")
    ended = escalation_marks(marks, {}, [passed], ALERTS, now=T0, run_id="r2", window="w2")
    assert ended[KEY].escalation is None


def test_an_ack_holds_repeats_but_a_rise_in_severity_is_sent() -> None:
    state = {
        KEY: CheckMarks(KEY, {"slack": ChannelMark("warning", T0 - 2 * 24 * 60 * MIN, ("w0",))})
    }
    acked = {KEY: decision("ack", -60, severity="warning")}

    def plan(severity: Severity) -> object:
        result = plan_messages(
            ALERTS.channels[:1],
            [finding(0.5, severity)],
            state,
            window="w1",
            now=T0,
            cooldown_seconds=86400,
            alerts=ALERTS,
            adjudications=acked,
        )
        items = result.items["slack"]
        return items[0].kind if items else result.suppressed[0].reason

    assert plan("warning") == "acknowledged"
    assert plan("critical") == "escalated"

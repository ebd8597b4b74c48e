"""The alert state machine, routing and message rendering (pure: no MLflow, no delivery)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Status
from mlflow_monitor.spec import AlertChannel, Severity
from mlflow_monitor.verdicts.alert_plan import (
    AlertItem,
    ChannelMark,
    CheckMarks,
    RunEvent,
    alert_key,
    channel_key,
    new_marks,
    plan_messages,
    render_message,
)
from mlflow_monitor.workflows.dispatch_alerts import run_url

NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
WINDOW = "2024-05-01T11:00:00Z/2024-05-01T12:00:00Z"
CHAT = AlertChannel(name="chat", url="json://localhost/chat", min_severity="warning")
PAGER = AlertChannel(name="pager", url="form://localhost/pager", min_severity="critical")
DAY = 24 * 3600.0


def _outcome(
    status: Status, severity: Severity = "critical", check: str = "perf/auc", value: float = 0.6
) -> CheckOutcome:
    return CheckOutcome(
        check,
        "performance",
        status,
        severity,
        value,
        AppliedThreshold(0.7, None, "static"),
        f"{check} = {value}",
    )


def _told(severity: Severity, hours_ago: float, *windows: str) -> dict[str, CheckMarks]:
    mark = ChannelMark(severity, NOW - timedelta(hours=hours_ago), windows)
    return {"perf/auc": CheckMarks("perf/auc", {"chat": mark})}


def _kinds(outcome: CheckOutcome, state: dict[str, CheckMarks]) -> object:
    plan = plan_messages([CHAT], [outcome], state, window=WINDOW, now=NOW, cooldown_seconds=DAY)
    items = plan.items["chat"]
    return items[0].kind if items else (plan.suppressed[0].reason if plan.suppressed else None)


@pytest.mark.parametrize(
    ("outcome", "state", "expected"),
    [
        (_outcome("fail"), {}, "new"),
        (_outcome("fail"), _told("warning", 1, "w0"), "escalated"),
        (_outcome("fail"), _told("critical", 1, "w0"), "cooldown"),
        (_outcome("fail"), _told("critical", 25, "w0"), "repeat"),
        (_outcome("fail"), _told("critical", 25, WINDOW), "duplicate"),
        (_outcome("warn", "warning"), _told("critical", 1, "w0"), "cooldown"),
        (_outcome("pass"), _told("critical", 1, "w0"), "resolved"),
        (_outcome("pass"), {}, None),
        (_outcome("insufficient_data"), _told("critical", 30, "w0"), None),
        (_outcome("not_evaluated"), _told("critical", 30, "w0"), None),  # not judged: not resolved
        (_outcome("not_evaluated"), {}, None),  # and never paged
        (_outcome("warn", "info"), {}, None),  # below the channel's minimum
        (_outcome("warn", "info"), _told("warning", 1, "w0"), "resolved"),
    ],
)
def test_state_machine(
    outcome: CheckOutcome, state: dict[str, CheckMarks], expected: str | None
) -> None:
    assert _kinds(outcome, state) == expected


def test_routing_by_minimum_severity_and_worst_first() -> None:
    outcomes = [
        _outcome("warn", "warning", "quality/missing", 0.3),
        _outcome("fail", "critical", "perf/auc", 0.5),
        _outcome("warn", "info", "drift/age", 0.2),
    ]
    plan = plan_messages([CHAT, PAGER], outcomes, {}, window=WINDOW, now=NOW, cooldown_seconds=DAY)
    assert [i.check_id for i in plan.items["chat"]] == ["perf/auc", "quality/missing"]
    assert [i.check_id for i in plan.items["pager"]] == ["perf/auc"]


def test_message_lines_carry_model_version_check_value_threshold_window_and_link() -> None:
    event = RunEvent(
        "churn",
        "7",
        "r1",
        "http://ui/#/experiments/1/runs/r1",
        datetime(2024, 5, 1, 11, tzinfo=timezone.utc),
        datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        "critical",
        (),
    )
    items = [
        AlertItem("resolved", "drift/age", "warning", "pass", 0.01, None, "ok"),
        AlertItem(
            "new",
            "perf/auc",
            "critical",
            "fail",
            0.6,
            AppliedThreshold(0.7, None, "history", "median=0.8"),
            "auc low",
        ),
    ]
    title, body, notify = render_message(event, sorted(items, key=lambda i: i.kind != "new"))
    assert title == "[CRITICAL] churn v7: 1 finding(s), 1 resolved"
    assert notify == "failure"
    lines = [x for x in body.splitlines() if x.startswith("- ")]
    assert lines[0].startswith(
        "- CRITICAL (new) churn v7 perf/auc: value 0.6, threshold >= 0.7 (history)"
    )
    shown = WINDOW.replace("/", " .. ")
    assert all(shown in x and "http://ui/#/experiments/1/runs/r1" in x for x in lines)
    assert lines[1].startswith("- RESOLVED (resolved) churn v7 drift/age")


def test_run_url_drops_credentials_and_falls_back_to_runs_uri() -> None:
    assert run_url("https://bob:s3cret@mlflow.corp:8443/", "4", "abc") == (
        "https://mlflow.corp:8443/#/experiments/4/runs/abc"
    )
    assert run_url("sqlite:///x.db", "4", "abc") == "runs:/abc"
    assert run_url("sqlite:///x.db", "4", "abc", "http://ui.corp") == (
        "http://ui.corp/#/experiments/4/runs/abc"
    )


def test_channel_key_uses_the_name_or_a_hash_of_the_unresolved_url() -> None:
    anonymous = AlertChannel(url="json://host/${TOKEN}")
    assert channel_key(CHAT) == "chat"
    assert channel_key(anonymous).startswith("url-")
    assert "TOKEN" not in channel_key(anonymous)


@pytest.mark.parametrize(
    ("health", "kinds", "title"),
    [
        ("critical", ["new"], "[CRITICAL]"),  # only a warning is new: the window is critical
        ("warning", ["resolved"], "[WARNING]"),  # something still fires: not RESOLVED
        ("healthy", ["resolved"], "[RESOLVED]"),  # nothing fires in the window
    ],
)
def test_title_is_the_window_health_and_resolved_only_when_nothing_fires(
    health: str, kinds: list[str], title: str
) -> None:
    event = RunEvent(
        "churn",
        "7",
        "r1",
        "http://ui/#/experiments/1/runs/r1",
        datetime(2024, 5, 1, 11, tzinfo=timezone.utc),
        datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        health,  # type: ignore[arg-type]
        (),
    )
    items = [
        AlertItem(kind, "drift/age", "warning", "warn", 0.3, None, "age drifted")  # type: ignore[arg-type]
        for kind in kinds
    ]
    assert render_message(event, items)[0].startswith(title)


def test_an_estimated_finding_confirmed_by_labels_alerts_again_as_realized() -> None:
    estimated = replace(_outcome("fail"), basis="estimated")
    plan = plan_messages([CHAT], [estimated], {}, window="w1", now=NOW, cooldown_seconds=DAY)
    (item,) = plan.items["chat"]
    state = new_marks({}, {"chat": (item,)}, window="w1", now=NOW)
    assert set(state) == {"perf/auc@estimated"}
    measured = _outcome("fail")  # the same check, now judged on labels
    later = NOW + timedelta(hours=1)
    again = plan_messages([CHAT], [measured], state, window="w2", now=later, cooldown_seconds=DAY)
    assert [i.kind for i in again.items["chat"]] == ["new"]


def test_an_acknowledged_alert_is_not_repeated_but_still_escalates() -> None:
    acked = ChannelMark("warning", NOW - timedelta(hours=30), ("w0",), acknowledged_by="ana")
    state = {"perf/auc": CheckMarks("perf/auc", {"chat": acked})}
    assert _kinds(_outcome("warn", "warning"), state) == "acknowledged"  # past its cooldown
    assert _kinds(_outcome("fail", "critical"), state) == "escalated"


def test_findings_of_one_cause_share_one_alert() -> None:
    first = replace(_outcome("fail", check="drift/age/psi"), cause="upstream-join")
    second = replace(_outcome("fail", check="drift/tenure/psi"), cause="upstream-join")
    assert alert_key(first) == alert_key(second) == "cause:upstream-join"

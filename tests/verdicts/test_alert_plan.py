"""The alert state machine, routing and message rendering (pure: no MLflow, no delivery)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Status
from mlflow_monitor.spec import AlertChannel, Severity
from mlflow_monitor.verdicts.alert_plan import (
    CAUSE_MEMBER_LINES,
    MAX_CHARS,
    MAX_LINES,
    AlertItem,
    AlertPlan,
    ChannelMark,
    CheckMarks,
    RunEvent,
    alert_key,
    channel_key,
    new_marks,
    plan_messages,
    render_message,
)
from mlflow_monitor.verdicts.root_cause import assign_causes
from mlflow_monitor.workflows.dispatch_alerts import run_url
from tests.verdicts.test_root_cause import (
    bias,
    degraded_window,
    drift,
    performance,
    wide_drift_window,
)

NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
WINDOW = "2024-05-01T11:00:00Z/2024-05-01T12:00:00Z"
CHAT = AlertChannel(name="chat", url="json://localhost/chat", min_severity="warning")
PAGER = AlertChannel(name="pager", url="form://localhost/pager", min_severity="critical")
ALL = AlertChannel(name="all", url="json://localhost/all", min_severity="info")
LINK = "http://ui/#/experiments/1/runs/r1"
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


def _event(link: str = LINK, run_id: str = "r1", health: str = "critical") -> RunEvent:
    return RunEvent(
        "churn",
        "7",
        run_id,
        link,
        datetime(2024, 5, 1, 11, tzinfo=timezone.utc),
        datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
        health,  # type: ignore[arg-type]
        (),
    )


def _lines(body: str) -> list[str]:
    return [x for x in body.splitlines() if x.startswith("- ")]


def test_the_header_names_the_run_once_and_lines_say_value_and_bound() -> None:
    items = [
        AlertItem("resolved", "drift/age", "warning", "pass", 0.01, None, "age: no drift"),
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
    title, body, notify = render_message(_event(), items)
    assert title == "[CRITICAL] churn v7: 1 finding(s), 1 resolved"
    assert notify == "failure"
    header = body.splitlines()[:2]
    assert header == [
        f"Model churn version 7, window {WINDOW.replace('/', ' .. ')}, health critical.",
        f"Run: {LINK}",
    ]
    for once in ("churn", "version 7", WINDOW.replace("/", " .. "), LINK):
        assert body.count(once) == 1, once  # the lines do not repeat the run
    assert _lines(body) == [
        "- CRITICAL (new) perf/auc: value 0.6, allowed >= 0.7 (history)",
        "- RESOLVED (resolved) drift/age: value 0.01, age: no drift",  # no bound: the message
    ]


def test_a_degraded_window_reads_as_its_causes_worst_first() -> None:
    outcomes = assign_causes(degraded_window())
    plan = plan_messages([ALL], outcomes, {}, window=WINDOW, now=NOW, cooldown_seconds=DAY)
    items = plan.items["all"]
    assert len(items) == 27 and {i.kind for i in items} == {"new"}
    # one cause, one alert: 27 findings are 6 alerts (4 causes, 2 findings on their own)
    assert len({i.identity for i in items}) == 6
    link = run_url("http://mlflow.corp:5000", "3", "r1")
    _, body, _ = render_message(_event(link), items)
    lines = body.splitlines()
    assert len(lines) <= MAX_LINES and len(body) <= MAX_CHARS
    assert body.count(link) == 1 and link.startswith("http://mlflow.corp:5000/")
    assert _lines(body) == [
        "- CRITICAL (new) performance dropped: 3 findings",
        # both genders moved alike on every metric: one line, a level shift and not a gap
        "- WARNING (new) gender: a level shift in every group, not a gap between groups: "
        "precision fell (-0.35 to -0.36), fnr rose (+0.17 to +0.18), "
        "tpr fell (-0.16 to -0.17), fpr rose (+0.15 to +0.16), "
        "prevalence fell (-0.14 to -0.15), selection_rate fell (-0.05 to -0.06)",
        "- WARNING (new) region drifted (its distribution changed): 3 findings",
        "- WARNING (new) label prevalence changed: 7 findings",
        "- WARNING (new) quality/age/missing_share: value 0.2, allowed <= 0.1 (static)",
        "- WARNING (new) drift/age: value 0.24, allowed <= 0.2 (psi)",
    ]
    members = [x.strip() for x in lines if x.startswith("    ")]
    assert members[0] == (
        "performance/roc_auc: value 0.5387, baseline 0.7704, allowed >= 0.7204 (baseline)"
    )
    # bias drift under a cause: one line per attribute, with the count and the largest change
    assert [x for x in members if "bias" in x] == [
        "bias drift on race: 6 group metrics changed, largest race=Black fnr +0.14",
    ]
    assert members[3:6] == [  # by effect: 0.22 and 0.20 below their baseline, 0.11 beyond
        "segment/region=south: value 0.54, baseline 0.76, allowed >= 0.64 (baseline)",
        "segment/region=north: value 0.57, baseline 0.77, allowed >= 0.65 (baseline)",
        "drift/region: value 0.31, allowed <= 0.2 (psi)",
    ]
    for never in ("threshold none", "inf", "runs:/", "none"):
        assert never not in body


def test_eighty_drifted_columns_are_one_folded_cause_and_the_rest_stays_in_view() -> None:
    outcomes = assign_causes(wide_drift_window(80))
    plan = plan_messages([ALL], outcomes, {}, window=WINDOW, now=NOW, cooldown_seconds=DAY)
    items = plan.items["all"]
    assert len(items) == 87 and len({i.identity for i in items}) == 5  # 87 findings, 5 alerts
    _, body, _ = render_message(_event(), items)
    lines = body.splitlines()
    assert len(lines) <= MAX_LINES and len(body) <= MAX_CHARS
    assert "more findings" not in body  # everything fits: nothing is cut at the bound
    # the dataset drift: its heading with the share (its head), 3 largest columns, the rest
    start = next(k for k, x in enumerate(lines) if "dataset drift" in x)
    cause = lines[start : start + 5]
    assert cause == [
        "- WARNING (new) dataset drift (feature columns drifted together): 82 findings; "
        "drift/share_drifted: value 1, allowed <= 0.3 (static)",
        "    drift/feature_079: value 0.289, allowed <= 0.2 (psi)",
        "    drift/feature_078: value 0.288, allowed <= 0.2 (psi)",
        "    drift/feature_077: value 0.287, allowed <= 0.2 (psi)",
        "    ... and 78 more under this cause",
    ]
    assert not lines[start + 5].startswith("    ")  # the cause ends there: 5 lines
    assert sum("drift/feature_" in x for x in lines) == 3
    # prediction drift, performance, the segment drop and region's own cause are all there
    assert _lines(body) == [
        "- CRITICAL (new) performance/roc_auc: value 0.6, baseline 0.77, allowed >= 0.72 "
        "(baseline)",
        cause[0],
        "- WARNING (new) drift/prediction/churn_score: value 0.8, allowed <= 0.2 (psi)",
        "- WARNING (new) region drifted (its distribution changed): 2 findings",
        "- WARNING (new) segment/plan=basic: value 0.55, baseline 0.75, allowed >= 0.63 (baseline)",
    ]


def test_a_cause_is_folded_only_past_its_member_lines_worst_first() -> None:
    def perf(k: int) -> CheckOutcome:  # m<k>: 0.30 + k/100 below its baseline
        return performance(f"m{k}", 0.5 - k / 100, 0.8, "warn", "warning")

    few = assign_causes([perf(k) for k in range(CAUSE_MEMBER_LINES)])
    plan = plan_messages([ALL], few, {}, window=WINDOW, now=NOW, cooldown_seconds=DAY)
    _, body, _ = render_message(_event(), plan.items["all"])
    assert "under this cause" not in body  # four findings: heading and all four
    assert sum(x.startswith("    performance/") for x in body.splitlines()) == 4
    # six: the three worst (a critical one first, though its drop is the smallest), the other
    # three counted
    small_critical = performance("m9", 0.74, 0.8, "fail", "critical")
    many = assign_causes([perf(k) for k in range(5)] + [small_critical])
    plan = plan_messages([ALL], many, {}, window=WINDOW, now=NOW, cooldown_seconds=DAY)
    _, body, _ = render_message(_event(), plan.items["all"])
    assert [x.split(":")[0].strip() for x in body.splitlines()[3:]] == [
        "- CRITICAL (new) performance dropped",  # no head finding: the plain heading
        "performance/m9",
        "performance/m4",
        "performance/m3",
        "... and 3 more under this cause",
    ]


def test_both_genders_moving_alike_is_one_level_shift_line() -> None:
    window = [
        bias("gender", "female", "selection_rate", 0.38, 0.72),
        bias("gender", "male", "selection_rate", 0.40, 0.73),
        drift("tenure"),
    ]
    plan = plan_messages(
        [ALL], assign_causes(window), {}, window=WINDOW, now=NOW, cooldown_seconds=DAY
    )
    items = plan.items["all"]
    assert {i.identity for i in items} == {"cause:shift:gender", "drift/tenure"}
    _, body, _ = render_message(_event(), items)
    assert _lines(body) == [
        "- WARNING (new) gender: selection_rate rose in every group (+0.33 to +0.34): "
        "a level shift, not a gap between groups",
        "- WARNING (new) drift/tenure: value 0.31, allowed <= 0.2 (psi)",
    ]
    assert "bias drift" not in body and len(body.splitlines()) == 5
    # one group the other way: a gap, shown as bias drift (both sides of gender moved)
    apart = [window[0], bias("gender", "male", "selection_rate", 0.40, 0.30)]
    plan = plan_messages(
        [ALL], assign_causes(apart), {}, window=WINDOW, now=NOW, cooldown_seconds=DAY
    )
    _, body, _ = render_message(_event(), plan.items["all"])
    assert "level shift" not in body and "bias drift on gender: 2 group metrics" in body


def test_a_long_message_stops_at_its_bound_and_counts_the_rest() -> None:
    at_most = AppliedThreshold(None, 0.1, "static")
    many = [
        replace(
            _outcome("warn", "warning", f"quality/c{k:02d}/missing_share", 0.2 + k / 100),
            threshold=at_most,
        )
        for k in range(40)
    ]
    long = [
        replace(o, check_id=f"quality/long{k}", value=None, message="x" * 500)
        for k, o in enumerate(many[:5])
    ]
    plan = plan_messages([ALL], [*many, *long], {}, window=WINDOW, now=NOW, cooldown_seconds=DAY)
    _, body, _ = render_message(_event(), plan.items["all"])
    lines = body.splitlines()
    assert len(lines) <= MAX_LINES and len(body) <= MAX_CHARS
    shown = len(_lines(body))
    assert lines[-1] == f"and {45 - shown} more findings: {LINK}"
    assert _lines(body)[0].startswith("- WARNING (new) quality/c39/missing_share: value 0.59")
    # five 500-character messages: each line is clipped, the whole stays under the bound
    _, clipped, _ = render_message(
        _event(),
        plan_messages([ALL], long, {}, window=WINDOW, now=NOW, cooldown_seconds=DAY).items["all"],
    )
    assert all(len(x) <= 400 for x in clipped.splitlines()) and clipped.endswith("...")


def test_without_a_web_address_the_message_says_how_to_get_a_link() -> None:
    item = AlertItem("new", "perf/auc", "critical", "fail", 0.6, None, "auc low")
    _, body, _ = render_message(_event(run_url("sqlite:///x.db", "4", "abc"), "abc"), [item])
    assert "Run: run abc (no web link: set alerts.mlflow_url)" in body
    assert "runs:/" not in body
    https = run_url("https://mlflow.corp/", "4", "abc")
    _, body, _ = render_message(_event(https, "abc"), [item])
    assert f"Run: {https}" in body and https.startswith("https://mlflow.corp/#/")


def test_a_bias_finding_alone_shows_change_interval_baseline_and_band() -> None:
    finding = bias("race", "White", "fnr", 0.39, 0.47)
    unbounded = replace(
        _outcome("fail", check="perf/mae"),
        threshold=AppliedThreshold(-math.inf, None, "static"),
        message="mae high",
    )
    plan = plan_messages(
        [ALL], [finding, unbounded], {}, window=WINDOW, now=NOW, cooldown_seconds=DAY
    )
    _, body, _ = render_message(_event(), plan.items["all"])
    assert _lines(body) == [
        "- CRITICAL (new) perf/mae: value 0.6, mae high",
        "- WARNING (new) bias_drift/race=White/fnr: value 0.47, change +0.08 "
        "[0.04, 0.12] (95% newcombe, n=400 vs 800), baseline 0.39, "
        "allowed 0.34 to 0.44 (baseline)",
    ]
    assert "inf" not in body and "none" not in body


# -- one cause, one alert: fatigue control keyed by the cause -----------------------------------
def _cause(status: Status, severity: Severity, check: str) -> CheckOutcome:
    return replace(_outcome(status, severity, check), cause="performance")


def _plan(
    outcomes: list[CheckOutcome], state: dict[str, CheckMarks], window: str, hours: float
) -> AlertPlan:
    now = NOW + timedelta(hours=hours)
    return plan_messages([CHAT], outcomes, state, window=window, now=now, cooldown_seconds=DAY)


def test_one_cause_is_one_alert_sent_held_back_and_escalated_together() -> None:
    warned = [_cause("warn", "warning", "perf/auc"), _cause("warn", "warning", "perf/f1")]
    first = _plan(warned, {}, "w1", 0)
    assert [i.kind for i in first.items["chat"]] == ["new", "new"]
    state = new_marks({}, {"chat": first.items["chat"]}, window="w1", now=NOW)
    assert list(state) == ["cause:performance"]  # one mark, the window once
    assert state["cause:performance"].channels["chat"].windows == ("w1",)

    again = _plan(warned, state, "w2", 1)  # within the cooldown: both held back
    assert again.items["chat"] == () and {s.reason for s in again.suppressed} == {"cooldown"}
    worse = [_cause("fail", "critical", "perf/auc"), warned[1]]
    escalated = _plan(worse, state, "w2", 1)  # one got worse: the cause escalates, whole
    assert [(i.check_id, i.kind) for i in escalated.items["chat"]] == [
        ("perf/auc", "escalated"),
        ("perf/f1", "escalated"),
    ]
    mild_first = tuple(reversed(escalated.items["chat"]))
    marks = new_marks(state, {"chat": mild_first}, window="w2", now=NOW)
    assert marks["cause:performance"].channels["chat"].severity == "critical"


def test_a_cause_resolves_once_its_checks_are_judged_again() -> None:
    told = ChannelMark("critical", NOW - timedelta(hours=1), ("w1",))
    state = {"cause:performance": CheckMarks("cause:performance", {"chat": told})}
    passing = [_outcome("pass", check="perf/auc"), _outcome("pass", check="perf/f1")]
    plan = _plan(passing, state, "w2", 0)
    [item] = plan.items["chat"]
    assert (item.kind, item.identity, item.message) == (
        "resolved",
        "cause:performance",
        "its checks pass again",
    )
    title, body, _ = render_message(_event(health="healthy"), [item])
    assert title.startswith("[RESOLVED]")
    assert _lines(body) == ["- RESOLVED (resolved) performance dropped: its checks pass again"]
    assert (
        new_marks(state, {"chat": (item,)}, window="w2", now=NOW)["cause:performance"].channels
        == {}
    )
    # one check still fires on its own: it is new, the grouping is resolved
    alone = _plan([_outcome("fail", check="perf/auc"), passing[1]], state, "w2", 0)
    assert [(i.identity, i.kind) for i in alone.items["chat"]] == [
        ("perf/auc", "new"),
        ("cause:performance", "resolved"),
    ]
    assert "1 of its checks still fire" in alone.items["chat"][1].message
    # not judged (no labels), or the run failed: the alert stays open, nothing is said
    unjudged = [_outcome("not_evaluated", check="perf/auc")]
    failed = [replace(_outcome("error", check="monitoring/run"), kind="monitoring")]
    assert _plan(unjudged, state, "w2", 0).items["chat"] == ()
    assert [i.check_id for i in _plan(failed, state, "w2", 0).items["chat"]] == ["monitoring/run"]


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


def test_a_segment_drop_shows_the_interval_beside_the_drop_not_the_value() -> None:
    from mlflow_monitor.contract import Interval

    drop = Interval(0.36, 0.50, 0.993, "delong difference", 804, 1628, of="drop")
    finding = replace(
        _outcome("warn", "warning", "segment/contract=two-year"),
        value=0.4846,
        baseline=0.9147,
        threshold=AppliedThreshold(0.7947, None, "baseline"),
        interval=drop,
    )
    plan = plan_messages([ALL], [finding], {}, window=WINDOW, now=NOW, cooldown_seconds=DAY)
    _, body, _ = render_message(_event(), plan.items["all"])
    [line] = _lines(body)
    assert line == (
        "- WARNING (new) segment/contract=two-year: value 0.4846, drop 0.4301 [0.36, 0.5] "
        "(99.3% delong difference of the drop, n=804 vs 1628), baseline 0.9147, "
        "allowed >= 0.7947 (baseline)"
    )

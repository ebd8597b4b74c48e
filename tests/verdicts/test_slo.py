"""``verdicts.slo`` against budgets, gaps and burn rates computed by hand (in the comments)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlflow_monitor.contract import CheckOutcome
from mlflow_monitor.spec import BurnAlertSpec, BurnAlertsSpec, SloSpec
from mlflow_monitor.verdicts.slo import (
    WindowRecord,
    burn_rate,
    evaluate_slo,
    freshness_gaps,
    window_event,
)

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def _auc_slo(**fields: object) -> SloSpec:
    base: dict[str, object] = {
        "name": "auc-floor",
        "objective": "check",
        "metric": "perf/roc_auc",
        "min": 0.75,
        "target": 0.95,
        "period": "28d",
    }
    return SloSpec.model_validate({**base, **fields})


def _daily(values: list[float | None], *, start: datetime = T0) -> list[WindowRecord]:
    """One daily window per value, ending at start + 1d, + 2d, ...; None: no labels (no metric)."""
    return [
        WindowRecord(
            window_end=start + (i + 1) * DAY,
            run_id=f"r{i}",
            metrics={} if v is None else {"perf/roc_auc": v},
        )
        for i, v in enumerate(values)
    ]


def _outcome(check_id: str, status: str, *, kind: str = "performance", basis: str = "measured"):
    return CheckOutcome.from_dict(
        {
            "check_id": check_id,
            "kind": kind,
            "status": status,
            "basis": basis,
            "severity": "warning",
        }
    )


# -- budgets -----------------------------------------------------------------------------------
def test_28_daily_windows_two_bad_overspend_the_budget() -> None:
    # 28 daily windows, target 0.95: budget = 0.05 * 28 = 1.4 windows.
    # 2 bad (0.70, 0.74 < 0.75): remaining = 1 - 2 / 1.4 = -0.428571 (-42.9%); SLI 26/28.
    values = [0.8] * 28
    values[5], values[20] = 0.70, 0.74
    result = evaluate_slo(_auc_slo(), _daily(values), period_end=T0 + 28 * DAY)

    budget = result.budget
    assert (budget.eligible, budget.good, budget.bad) == (28, 26, 2)
    assert budget.budget == pytest.approx(1.4)
    assert budget.remaining == pytest.approx(-0.428571, abs=1e-6)
    assert budget.sli == pytest.approx(26 / 28)
    assert result.met is False
    assert "budget left -42.9%" in result.summary()
    # burn-down: full until the first bad window, 1 - 1/1.4 = 28.6% after it, -42.9% after two
    assert result.burndown[4][1] == pytest.approx(1.0)
    assert result.burndown[5][1] == pytest.approx(1 - 1 / 1.4)
    assert result.burndown[-1][1] == pytest.approx(budget.remaining)


def test_bound_is_inclusive_and_the_period_is_rolling() -> None:
    # 0.75 is good (min inclusive). Period 28d ending at day 30 holds windows ending day 3..30:
    # the two bad windows ending day 1 and 2 fall out; 28 eligible, 0 bad, remaining 100%.
    values = [0.5, 0.5] + [0.75] * 28
    result = evaluate_slo(_auc_slo(), _daily(values), period_end=T0 + 30 * DAY)

    assert (result.budget.eligible, result.budget.bad) == (28, 0)
    assert result.budget.remaining == pytest.approx(1.0)
    assert result.met is True


def test_excluded_windows_leave_the_denominator_and_estimates_stay_apart() -> None:
    # 10 windows, target 0.9: 7 good, 1 bad, 1 without labels (estimated 0.80 -> estimated good),
    # 1 failed. eligible = 8, budget = 0.1 * 8 = 0.8, remaining = 1 - 1/0.8 = -0.25;
    # SLI 7/8 = 0.875; excluded: not_evaluated 1, failed 1; estimated indicator 1 good, 0 bad.
    records = _daily([0.8] * 7 + [0.6, None, 0.9])
    records[8] = WindowRecord(records[8].window_end, "r8", metrics={"perf_est/roc_auc": 0.8})
    records[9] = WindowRecord(records[9].window_end, "r9", finished=False)
    result = evaluate_slo(_auc_slo(target=0.9), records, period_end=T0 + 10 * DAY)

    assert (result.budget.eligible, result.budget.bad) == (8, 1)
    assert result.budget.remaining == pytest.approx(-0.25)
    assert result.budget.sli == pytest.approx(0.875)
    assert dict(result.excluded) == {"not_evaluated": 1, "failed": 1}
    assert (result.estimated.good, result.estimated.bad) == (1, 0)
    assert [e.estimated for e in result.events[7:]] == [None, "good", None]


def test_a_check_window_is_bad_on_any_finding_and_excluded_when_not_judged() -> None:
    slo = _auc_slo(metric=None, min=None, check="drift")
    end = T0 + DAY

    def event(*outcomes: CheckOutcome) -> tuple[str, str, str | None]:
        e = window_event(slo, WindowRecord(end, "r", outcomes=outcomes))
        return e.event, e.reason, e.estimated

    # id prefix: drift/age and drift/income both belong to check "drift"
    assert event(_outcome("drift/age", "pass"), _outcome("drift/income", "pass")) == (
        "good",
        "pass",
        None,
    )
    assert event(_outcome("drift/age", "pass"), _outcome("drift/income", "warn"))[0] == "bad"
    assert event(_outcome("drift/age", "insufficient_data"), _outcome("perf/x", "fail")) == (
        "excluded",
        "insufficient_data",
        None,
    )
    assert event() == ("excluded", "not_evaluated", None)
    # no labels: the measured outcome is not evaluated, the estimated one fails
    assert event(
        _outcome("drift/age", "not_evaluated"), _outcome("drift/age", "fail", basis="estimated")
    ) == ("excluded", "not_evaluated", "bad")


def test_policies_objective_reads_policy_and_fairness_outcomes() -> None:
    slo = SloSpec(name="fair", objective="policies", target=0.99)
    end = T0 + DAY
    rule = "policy/eeoc/four_fifths/sex=F"
    passing = (_outcome(rule, "pass", kind="policy"), _outcome("drift/age", "fail", kind="drift"))
    failing = (_outcome(rule, "fail", kind="policy"),)
    small = (_outcome("fairness/sex=X/group_size", "insufficient_data", kind="fairness"),)

    assert window_event(slo, WindowRecord(end, "a", outcomes=passing)).event == "good"
    assert window_event(slo, WindowRecord(end, "b", outcomes=failing)).event == "bad"
    assert window_event(slo, WindowRecord(end, "c", outcomes=small)).reason == "insufficient_data"


def test_no_window_in_the_period_gives_no_sli_no_budget_and_no_alert() -> None:
    result = evaluate_slo(_auc_slo(), _daily([0.5]), period_end=T0 + 60 * DAY)

    assert result.budget.sli is None and result.budget.remaining is None
    assert result.met is None
    assert result.firing == ()
    assert all(b.long.rate is None for b in result.burn)


# -- burn rates --------------------------------------------------------------------------------
def test_a_lookback_shorter_than_the_cadence_reads_the_latest_window() -> None:
    # daily windows, target 0.95: the default fast tier (1h / 5m, x14.4) reads the latest day
    # for both; a bad latest day burns at 1 / 0.05 = 20 >= 14.4: fires; a good one burns 0.
    bad_last = evaluate_slo(_auc_slo(), _daily([0.8] * 5 + [0.6]), period_end=T0 + 6 * DAY + HOUR)
    fast = bad_last.burn[0]
    assert fast.tier == "fast" and fast.severity == "critical"
    assert fast.long.rate == pytest.approx(20.0) and fast.short.rate == pytest.approx(20.0)
    assert fast.firing
    # slow (3d / 6h, x1): 3 days hold 1 bad of 3 -> (1/3) / 0.05 = 6.67; short: latest -> 20
    slow = bad_last.burn[1]
    assert slow.long.rate == pytest.approx((1 / 3) / 0.05)
    assert slow.firing
    assert [a.tier for a in bad_last.firing] == ["fast", "slow"]

    good_last = evaluate_slo(_auc_slo(), _daily([0.6] * 5 + [0.8]), period_end=T0 + 6 * DAY)
    assert good_last.burn[0].long.rate == 0.0
    assert not good_last.burn[0].firing
    # slow long: 2 bad of 3 -> 13.3 >= 1, but short (the latest, good) 0 < 1: not firing
    assert good_last.burn[1].long.rate == pytest.approx((2 / 3) / 0.05)
    assert not good_last.burn[1].firing


TIER = BurnAlertSpec(long=4 * 86400, short=86400, factor=2.0, severity="critical")


@pytest.mark.parametrize(
    ("values", "long_rate", "short_rate", "firing"),
    [
        # target 0.75 (1 - target = 0.25, exact in binary). 4 days, 2 bad: 0.5 / 0.25 = 2.0:
        # exactly the factor -> fires (>=); the latest bad: 1 / 0.25 = 4.0.
        ([0.8, 0.6, 0.8, 0.6], 2.0, 4.0, True),
        # 1 bad of 4: 0.25 / 0.25 = 1.0 < 2: the long lookback holds it back
        ([0.8, 0.8, 0.8, 0.6], 1.0, 4.0, False),
        # 3 bad of 4 (3.0) but the latest good (0.0): the short lookback holds it back
        ([0.6, 0.6, 0.6, 0.8], 3.0, 0.0, False),
    ],
)
def test_a_tier_fires_only_when_both_lookbacks_reach_the_factor(
    values: list[float], long_rate: float, short_rate: float, firing: bool
) -> None:
    slo = _auc_slo(target=0.75, burn_alerts=BurnAlertsSpec(fast=TIER, slow=None))
    result = evaluate_slo(slo, _daily(values), period_end=T0 + 4 * DAY)

    (alert,) = result.burn
    assert alert.long.rate == long_rate  # exact: 0.25 and 0.5 are binary fractions
    assert alert.short.rate == short_rate
    assert alert.firing is firing


def test_burn_rate_counts_window_ends_inside_the_lookback() -> None:
    # hourly windows, target 0.99, lookback 6h at 10:00 holds the windows ending 05:00 .. 10:00
    # (04:00 is the open end, excluded): 6 windows, 3 bad -> 0.5 / 0.01 = 50; one excluded
    # window inside leaves 5 eligible: 3 bad / 5 = 0.6 / 0.01 = 60.
    slo = _auc_slo(target=0.99)
    records = [
        WindowRecord(T0 + (h + 1) * HOUR, f"r{h}", metrics={"perf/roc_auc": v})
        for h, v in enumerate([0.6, 0.6, 0.6, 0.6, 0.8, 0.8, 0.6, 0.6, 0.8, 0.6])
    ]
    events = [window_event(slo, r) for r in records]
    rate = burn_rate(events, target=0.99, end=T0 + 10 * HOUR, lookback=6 * 3600)
    assert (rate.bad, rate.eligible) == (3, 6)
    assert rate.rate == pytest.approx(50.0)

    records[5] = WindowRecord(records[5].window_end, "r5")  # no labels: excluded
    events = [window_event(slo, r) for r in records]
    rate = burn_rate(events, target=0.99, end=T0 + 10 * HOUR, lookback=6 * 3600)
    assert (rate.bad, rate.eligible) == (3, 5)
    assert rate.rate == pytest.approx(60.0)


# -- freshness ---------------------------------------------------------------------------------
def _fresh(**fields: object) -> SloSpec:
    base: dict[str, object] = {
        "name": "freshness",
        "objective": "freshness",
        "max_gap": "26h",
        "target": 0.99,
        "period": "10d",
    }
    return SloSpec.model_validate({**base, **fields})


def _ends(*days: float) -> list[WindowRecord]:
    return [WindowRecord(T0 + d * DAY, f"d{d}") for d in days]


def test_freshness_counts_the_time_beyond_max_gap() -> None:
    # period 10d ending day 10; windows end days 1, 2, 3, 6, 7, 8, 9. Observed from the first
    # completion (day 1): 9 days = 216 h. The gap day 3 -> day 6 is 72 h: 72 - 26 = 46 h bad;
    # the open gap day 9 -> 10 is 24 h < 26: none. SLI = 1 - 46/216 = 0.787037;
    # budget = 0.01 * 216 h = 2.16 h; remaining = 1 - 46 / 2.16 = -20.296296.
    result = evaluate_slo(_fresh(), _ends(1, 2, 3, 6, 7, 8, 9), period_end=T0 + 10 * DAY)

    budget = result.budget
    assert budget.eligible == 216 * 3600 and budget.bad == 46 * 3600
    assert budget.sli == pytest.approx(0.787037, abs=1e-6)
    assert budget.budget == pytest.approx(2.16 * 3600)
    assert budget.remaining == pytest.approx(-20.296296, abs=1e-6)
    (gap,) = result.gaps
    assert (gap.start, gap.end, gap.open) == (T0 + 3 * DAY, T0 + 6 * DAY, False)
    assert result.burndown[-1][1] == pytest.approx(budget.remaining)


def test_an_open_gap_counts_until_the_period_end_and_failed_windows_do_not_close_it() -> None:
    # ends day 1, 2, 3, 6, 7, 8, 9 and a FAILED window ending day 10; period end day 11:
    # observed 240 h; bad 46 h + (day 9 -> 11 = 48 h - 26 h = 22 h, open) = 68 h.
    records = [*_ends(1, 2, 3, 6, 7, 8, 9), WindowRecord(T0 + 10 * DAY, "f", finished=False)]
    result = evaluate_slo(_fresh(), records, period_end=T0 + 11 * DAY)

    assert result.budget.bad == 68 * 3600
    assert result.budget.eligible == 240 * 3600
    assert result.gaps[-1].open and result.gaps[-1].bad_seconds == 22 * 3600
    assert dict(result.excluded) == {"failed": 1}
    # overdue for the whole last hour and 5 minutes: 1 / 0.01 = 100 >= 14.4 on both: fires
    fast = result.burn[0]
    assert fast.long.rate == pytest.approx(100.0) and fast.short.rate == pytest.approx(100.0)
    assert fast.firing


@pytest.mark.parametrize(
    ("overdue", "long_rate", "firing"),
    [
        # 30 min overdue: the last hour is half bad -> 0.5 / 0.01 = 50; last 5 min -> 100
        (timedelta(minutes=30), 50.0, True),
        # 5 min overdue: (5/60) / 0.01 = 8.33 < 14.4 (the short one is 100): not yet a page
        (timedelta(minutes=5), 100 * 5 / 60, False),
    ],
)
def test_freshness_pages_once_the_last_hour_is_overdue_enough(
    overdue: timedelta, long_rate: float, firing: bool
) -> None:
    end = T0 + 9 * DAY + timedelta(hours=26) + overdue
    result = evaluate_slo(_fresh(), _ends(8, 9), period_end=end)

    fast = result.burn[0]
    assert fast.long.rate == pytest.approx(long_rate)
    assert fast.short.rate == pytest.approx(100.0)
    assert fast.firing is firing


def test_a_gap_that_starts_before_the_period_is_clipped_to_it() -> None:
    # period 4d from day 0 to day 4; windows end day -2 and day 3. Observed from day 0 (a window
    # ended before it): 96 h. The gap day -2 -> 3 is bad from day -2 + 26 h, clipped to day 0:
    # 72 h bad; the open gap day 3 -> 4 (24 h) none. SLI = 1 - 72/96 = 0.25.
    observed, gaps = freshness_gaps(
        [T0 - 2 * DAY, T0 + 3 * DAY],
        max_gap=26 * 3600,
        period_start=T0,
        period_end=T0 + 4 * DAY,
    )
    assert observed == T0
    assert [g.bad_seconds for g in gaps] == [72 * 3600]
    result = evaluate_slo(_fresh(period="4d"), _ends(-2, 3), period_end=T0 + 4 * DAY)
    assert result.budget.sli == pytest.approx(0.25)


def test_no_completed_window_gives_no_freshness_sli() -> None:
    result = evaluate_slo(_fresh(), [WindowRecord(T0 + DAY, "f", finished=False)], period_end=T0)
    assert result.budget.sli is None and result.firing == ()

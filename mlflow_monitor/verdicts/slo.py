"""Service-level objectives over a version's windows: SLI events, error budgets, burn rates.

Pure arithmetic: ``WindowRecord`` s (each window's counting result, in window order, as
``workflows.window_history`` returns them) and a ``SloSpec`` come in, an ``SloResult`` comes out.
No I/O, no clock: the caller passes ``period_end``.

**The period.** An SLO is judged over the rolling period ``(period_end - period, period_end]``;
a window belongs to it when its ``window_end`` falls inside (its data time, not when it ran, so a
backfill fills the past, and a rerun of a window replaces its result instead of adding one).

**Window SLOs** (``objective: check`` and ``policies``). Each window of the period is one event:

- ``check`` with ``metric``: good when the window's measured value lies in [``min``, ``max``]
  (inclusive), bad when outside; no measured value (no labels: the metric was not logged) is
  ``not_evaluated``.
- ``check`` with ``check``: the window's measured outcomes whose id is, or starts with, the
  check (``CheckOutcome.matches``); good when every judged one passed, bad when any is
  ``warn``/``fail``/``error``; only ``insufficient_data``/``not_evaluated`` (or none at all) ->
  that status.
- ``policies``: the same over every measured outcome of kind ``policy`` or ``fairness``.
- a window whose every attempt FAILED: ``failed``.

``insufficient_data``, ``not_evaluated`` and ``failed`` windows are **excluded**: they are
neither good nor bad, leave the denominator, and are reported as counts per reason.

**Estimates.** A window judged only on estimates (no labels yet; outcomes with
``basis: estimated``, metrics ``perf_est/<m>`` for ``perf/<m>``) is excluded from the measured
SLI like any ``not_evaluated`` window, and counted in a separate *estimated* indicator
(``EstimatedIndicator``: its good and bad windows and their share). The budget and the burn
rates are measured only: an estimate never spends budget and never pages; when labels arrive
and the window is run again, its measured event replaces the estimate.

**Budget** (in windows): ``eligible`` = good + bad windows of the period; ``budget`` =
(1 - target) x eligible; ``consumed`` = bad; ``remaining`` = 1 - bad / budget (negative when
overspent: 28 daily windows at target 0.95 give a budget of 1.4 windows; 2 bad leave
1 - 2 / 1.4 = -42.9%). SLI = good / eligible. No eligible window: no SLI, no budget (None).

**Freshness** (time-based). The completion times are the counting windows' ends (``failed``
windows are none: they leave the gap open). Between consecutive completions ``a < b``, and from
the last one to ``period_end`` (the gap still open), the time after ``a + max_gap`` is bad:
``bad = max(0, b - a - max_gap)``, counted where it falls inside the observed part of the period
``[max(period start, first completion ever), period_end]`` (time before a version's first window
is not judged). SLI = 1 - bad / observed; budget = (1 - target) x observed seconds; remaining =
1 - bad / budget. A version with no completed window has no freshness SLI.

**Burn rate** over a lookback ``L`` ending at ``period_end``: the bad share of the eligible
windows whose ``window_end`` falls in ``(period_end - L, period_end]``, divided by
(1 - target); 1.0 spends the budget exactly over the period. A lookback shorter than the
windows' cadence would often hold no window, so a lookback that holds none reads the latest
window of the period instead: with daily windows the 1 h and 5 min lookbacks both read the
latest day. Freshness: bad seconds / observed seconds inside the lookback, / (1 - target).

**Burn alerts** (Google SRE workbook, "Alerting on SLOs", multiwindow multi-burn-rate): a tier
fires when the burn rate over its ``long`` and over its ``short`` lookback are both at least its
``factor`` (``>=``; no data in either: not firing). Defaults (``spec.BurnAlertsSpec``): ``fast``
1 h / 5 min x14.4 critical (a page: 2% of a 30-day budget in an hour), ``slow`` 3 d / 6 h x1
warning (a ticket: spending at the rate that uses the budget up by the period's end). With
window SLIs the largest burn rate is 1 / (1 - target) (every window bad): a target below
1 - 1/14.4 = 0.9306 never fires the default fast tier, so lower targets page only through a
lower ``factor``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from mlflow_monitor.contract import CheckOutcome, safe_metric_name, utc_text
from mlflow_monitor.spec import BurnAlertSpec, SloSpec

__all__ = [
    "Budget",
    "BurnAlert",
    "BurnRate",
    "EstimatedIndicator",
    "Gap",
    "SloResult",
    "WindowEvent",
    "WindowRecord",
    "burn_rate",
    "evaluate_slo",
    "freshness_gaps",
    "window_budget",
    "window_event",
]

Event = Literal["good", "bad", "excluded"]
Tier = Literal["fast", "slow"]
_FIRING = ("warn", "fail", "error")
_NOT_JUDGED = ("insufficient_data", "not_evaluated")
_POLICY_KINDS = ("policy", "fairness")


@dataclass(frozen=True)
class WindowRecord:
    """One window of a version: its counting result (or ``finished=False``: every attempt failed).

    ``outcomes`` is None when the window's ``results.json`` was not read (metric SLOs need only
    ``metrics``, the logged metrics by MLflow or ``results.json`` name).
    """

    window_end: datetime
    run_id: str
    window_start: datetime | None = None
    finished: bool = True
    metrics: Mapping[str, float] = field(default_factory=dict)
    outcomes: tuple[CheckOutcome, ...] | None = None


@dataclass(frozen=True)
class WindowEvent:
    """A window's SLI event: good, bad or excluded (``reason``), and its estimated event."""

    window_end: datetime
    run_id: str
    event: Event
    reason: str  # pass | fail | insufficient_data | not_evaluated | failed
    value: float | None = None
    estimated: Event | None = None  # only when the measured event is excluded

    def to_dict(self) -> dict[str, object]:
        return {
            "window_end": utc_text(self.window_end),
            "run_id": self.run_id,
            "event": self.event,
            "reason": self.reason,
            "value": self.value,
            "estimated": self.estimated,
        }


@dataclass(frozen=True)
class Budget:
    """The error budget of a period: in windows (window SLOs) or seconds (freshness)."""

    unit: Literal["windows", "seconds"]
    eligible: float
    good: float
    bad: float
    target: float

    @property
    def sli(self) -> float | None:
        """Good share of the eligible windows (or time); None without any."""
        return self.good / self.eligible if self.eligible > 0 else None

    @property
    def budget(self) -> float:
        """How much may be bad: (1 - target) x eligible."""
        return (1 - self.target) * self.eligible

    @property
    def remaining(self) -> float | None:
        """1 - bad / budget (negative when overspent); None without an eligible window."""
        return 1 - self.bad / self.budget if self.budget > 0 else None

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit,
            "eligible": self.eligible,
            "good": self.good,
            "bad": self.bad,
            "target": self.target,
            "sli": self.sli,
            "budget": self.budget,
            "consumed": self.bad,
            "remaining": self.remaining,
        }


@dataclass(frozen=True)
class BurnRate:
    """The burn rate over one lookback: its bad share / (1 - target); None without data."""

    lookback_seconds: float
    bad: float
    eligible: float
    rate: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "lookback_seconds": self.lookback_seconds,
            "bad": self.bad,
            "eligible": self.eligible,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class BurnAlert:
    """One tier of multiwindow burn-rate alerting: firing when both rates reach the factor."""

    tier: Tier
    severity: str
    factor: float
    long: BurnRate
    short: BurnRate

    @property
    def firing(self) -> bool:
        return all(r.rate is not None and r.rate >= self.factor for r in (self.long, self.short))

    def to_dict(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "severity": self.severity,
            "factor": self.factor,
            "firing": self.firing,
            "long": self.long.to_dict(),
            "short": self.short.to_dict(),
        }


@dataclass(frozen=True)
class EstimatedIndicator:
    """Windows judged only on estimates (no labels yet): kept apart from the measured SLI."""

    good: int = 0
    bad: int = 0

    @property
    def sli(self) -> float | None:
        total = self.good + self.bad
        return self.good / total if total else None

    def to_dict(self) -> dict[str, object]:
        return {"good": self.good, "bad": self.bad, "sli": self.sli}


@dataclass(frozen=True)
class Gap:
    """A stretch between completed windows (``open``: none since ``start``) that was too long."""

    start: datetime
    end: datetime
    bad_seconds: float  # the part beyond max_gap inside the observed period
    open: bool = False

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def to_dict(self) -> dict[str, object]:
        return {
            "start": utc_text(self.start),
            "end": utc_text(self.end),
            "seconds": self.seconds,
            "bad_seconds": self.bad_seconds,
            "open": self.open,
        }


@dataclass(frozen=True)
class SloResult:
    """One SLO judged over its period: budget, events or gaps, exclusions, burn alerts."""

    slo: SloSpec
    period_start: datetime
    period_end: datetime
    budget: Budget
    burn: tuple[BurnAlert, ...]
    events: tuple[WindowEvent, ...] = ()
    gaps: tuple[Gap, ...] = ()
    excluded: Mapping[str, int] = field(default_factory=dict)
    estimated: EstimatedIndicator = EstimatedIndicator()
    burndown: tuple[tuple[datetime, float], ...] = ()  # (time, remaining budget fraction)

    @property
    def firing(self) -> tuple[BurnAlert, ...]:
        return tuple(b for b in self.burn if b.firing)

    @property
    def met(self) -> bool | None:
        """The SLI reaches the target; None without data."""
        sli = self.budget.sli
        return None if sli is None else sli >= self.slo.target

    def summary(self) -> str:
        """One line: SLI vs target, budget left, burn rates, what fires (``slo_line``)."""
        return slo_line(self)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.slo.name,
            "objective": self.slo.objective,
            "description": self.slo.description,
            "indicator": indicator_text(self.slo),
            "target": self.slo.target,
            "period_seconds": self.slo.period,
            "period_start": utc_text(self.period_start),
            "period_end": utc_text(self.period_end),
            "met": self.met,
            "budget": self.budget.to_dict(),
            "excluded": dict(self.excluded),
            "estimated": self.estimated.to_dict(),
            "burn_alerts": [b.to_dict() for b in self.burn],
            "firing": [b.tier for b in self.firing],
            "events": [e.to_dict() for e in self.events],
            "gaps": [g.to_dict() for g in self.gaps],
            "burndown": [[utc_text(t), r] for t, r in self.burndown],
            "summary": self.summary(),
        }


# -- window events -----------------------------------------------------------------------------
def window_event(slo: SloSpec, record: WindowRecord) -> WindowEvent:
    """The window's event for a window SLO (``check`` or ``policies``), with its estimate."""
    if not record.finished:
        return WindowEvent(record.window_end, record.run_id, "excluded", "failed")
    if slo.metric is not None:
        value = _metric(record.metrics, slo.metric)
        event, reason = _bound_event(slo, value)
        guess = _bound_event(slo, _metric(record.metrics, _estimated_name(slo.metric)))[0]
    else:
        outcomes = [o for o in record.outcomes or () if _selected(slo, o)]
        value = None
        event, reason = _outcomes_event(o for o in outcomes if o.basis == "measured")
        guess = _outcomes_event(o for o in outcomes if o.basis == "estimated")[0]
    estimated = guess if event == "excluded" and guess != "excluded" else None
    return WindowEvent(record.window_end, record.run_id, event, reason, value, estimated)


def _metric(metrics: Mapping[str, float], name: str) -> float | None:
    for key in (name, safe_metric_name(name)):
        value = metrics.get(key)
        if value is not None and math.isfinite(value):
            return float(value)
    return None


def _estimated_name(metric: str) -> str:
    """``perf/roc_auc`` -> ``perf_est/roc_auc`` (what a window without labels logs)."""
    head, sep, rest = metric.partition("/")
    return f"{head}_est/{rest}" if sep and head == "perf" else f"{metric}_est"


def _bound_event(slo: SloSpec, value: float | None) -> tuple[Event, str]:
    if value is None:
        return "excluded", "not_evaluated"
    inside = (slo.min is None or value >= slo.min) and (slo.max is None or value <= slo.max)
    return ("good", "pass") if inside else ("bad", "fail")


def _selected(slo: SloSpec, outcome: CheckOutcome) -> bool:
    if slo.objective == "policies":
        return outcome.kind in _POLICY_KINDS or outcome.check_id.startswith("policy/")
    return slo.check is not None and outcome.matches(slo.check)


def _outcomes_event(outcomes: Iterable[CheckOutcome]) -> tuple[Event, str]:
    statuses = [o.status for o in outcomes]
    if any(s in _FIRING for s in statuses):
        return "bad", "fail"
    if any(s == "pass" for s in statuses):
        return "good", "pass"
    if "insufficient_data" in statuses:
        return "excluded", "insufficient_data"
    return "excluded", "not_evaluated"


# -- budgets and burn rates --------------------------------------------------------------------
def window_budget(events: Sequence[WindowEvent], *, target: float) -> Budget:
    """The period's budget from its events (see the module docstring)."""
    good = sum(e.event == "good" for e in events)
    bad = sum(e.event == "bad" for e in events)
    return Budget("windows", good + bad, good, bad, target)


def burn_rate(
    events: Sequence[WindowEvent], *, target: float, end: datetime, lookback: float
) -> BurnRate:
    """Bad share of the windows ending in ``(end - lookback, end]`` / (1 - target).

    ``events`` are the period's, in window order; a lookback holding none reads the latest.
    """
    start = end - timedelta(seconds=lookback)
    inside = [e for e in events if start < e.window_end <= end]
    if not inside:
        inside = [e for e in events if e.window_end <= end][-1:]
    bad = sum(e.event == "bad" for e in inside)
    eligible = sum(e.event != "excluded" for e in inside)
    rate = (bad / eligible) / (1 - target) if eligible else None
    return BurnRate(lookback, bad, eligible, rate)


# -- freshness ---------------------------------------------------------------------------------
def freshness_gaps(
    ends: Iterable[datetime], *, max_gap: float, period_start: datetime, period_end: datetime
) -> tuple[datetime | None, tuple[Gap, ...]]:
    """(start of the observed period, the gaps with bad time inside it), see the docstring.

    ``ends`` are the completed windows' ends (any order; those after ``period_end`` ignored).
    The observed start is None when no window was ever completed by ``period_end``.
    """
    done = sorted({e for e in ends if e <= period_end})
    if not done:
        return None, ()
    observed = max(period_start, done[0])
    gaps = []
    for a, b, still_open in _stretches(done, period_end):
        bad_from = max(a + timedelta(seconds=max_gap), observed)
        bad = (b - bad_from).total_seconds()
        if bad > 0:
            gaps.append(Gap(a, b, bad, still_open))
    return observed, tuple(gaps)


def _stretches(
    done: Sequence[datetime], end: datetime
) -> Iterable[tuple[datetime, datetime, bool]]:
    for a, b in itertools.pairwise(done):
        yield a, b, False
    if done[-1] < end:
        yield done[-1], end, True


def _bad_seconds(gaps: Iterable[Gap], *, start: datetime, end: datetime) -> float:
    """Bad time of ``gaps`` that falls in ``[start, end]``."""
    total = 0.0
    for gap in gaps:
        bad_from = max(gap.end - timedelta(seconds=gap.bad_seconds), start)
        total += max(0.0, (min(gap.end, end) - bad_from).total_seconds())
    return total


# -- one SLO -----------------------------------------------------------------------------------
def evaluate_slo(
    slo: SloSpec, records: Sequence[WindowRecord], *, period_end: datetime
) -> SloResult:
    """Judge ``slo`` over the period ending at ``period_end`` from a version's windows."""
    if slo.objective == "freshness":
        return _freshness(slo, records, period_end)
    return _window_slo(slo, records, period_end)


def _window_slo(slo: SloSpec, records: Sequence[WindowRecord], end: datetime) -> SloResult:
    start = end - timedelta(seconds=slo.period)
    inside = sorted((r for r in records if start < r.window_end <= end), key=_by_end)
    events = tuple(window_event(slo, r) for r in inside)
    budget = window_budget(events, target=slo.target)
    burn = tuple(
        BurnAlert(
            tier,
            tier_spec.severity,
            tier_spec.factor,
            burn_rate(events, target=slo.target, end=end, lookback=tier_spec.long),
            burn_rate(events, target=slo.target, end=end, lookback=tier_spec.short),
        )
        for tier, tier_spec in _tiers(slo)
    )
    excluded: dict[str, int] = {}
    for e in events:
        if e.event == "excluded":
            excluded[e.reason] = excluded.get(e.reason, 0) + 1
    estimated = EstimatedIndicator(
        sum(e.estimated == "good" for e in events), sum(e.estimated == "bad" for e in events)
    )
    return SloResult(
        slo,
        start,
        end,
        budget,
        burn,
        events,
        (),
        excluded,
        estimated,
        _window_burndown(events, budget),
    )


def _window_burndown(
    events: Sequence[WindowEvent], budget: Budget
) -> tuple[tuple[datetime, float], ...]:
    """Remaining budget after each window (the period's whole budget spent window by window)."""
    if budget.budget <= 0:
        return ()
    points, bad = [], 0
    for e in events:
        bad += e.event == "bad"
        points.append((e.window_end, 1 - bad / budget.budget))
    return tuple(points)


def _freshness(slo: SloSpec, records: Sequence[WindowRecord], end: datetime) -> SloResult:
    start = end - timedelta(seconds=slo.period)
    max_gap = float(slo.max_gap or 0.0)
    ends = [r.window_end for r in records if r.finished]
    observed, gaps = freshness_gaps(ends, max_gap=max_gap, period_start=start, period_end=end)
    span = (end - observed).total_seconds() if observed else 0.0
    bad = sum(g.bad_seconds for g in gaps)
    budget = Budget("seconds", span, span - bad, bad, slo.target)
    burn = tuple(
        BurnAlert(
            tier,
            spec.severity,
            spec.factor,
            _time_burn(gaps, slo, observed, end, spec.long),
            _time_burn(gaps, slo, observed, end, spec.short),
        )
        for tier, spec in _tiers(slo)
    )
    failed = sum(not r.finished and start < r.window_end <= end for r in records)
    return SloResult(
        slo,
        start,
        end,
        budget,
        burn,
        gaps=gaps,
        excluded={"failed": failed} if failed else {},
        burndown=_time_burndown(gaps, budget, observed, end, ends),
    )


def _time_burn(
    gaps: Sequence[Gap], slo: SloSpec, observed: datetime | None, end: datetime, lookback: float
) -> BurnRate:
    if observed is None:
        return BurnRate(lookback, 0.0, 0.0, None)
    start = max(observed, end - timedelta(seconds=lookback))
    span = (end - start).total_seconds()
    if span <= 0:
        return BurnRate(lookback, 0.0, 0.0, None)
    bad = _bad_seconds(gaps, start=start, end=end)
    return BurnRate(lookback, bad, span, (bad / span) / (1 - slo.target))


def _time_burndown(
    gaps: Sequence[Gap],
    budget: Budget,
    observed: datetime | None,
    end: datetime,
    ends: Sequence[datetime],
) -> tuple[tuple[datetime, float], ...]:
    """Remaining budget at each completion and each gap's turning points, and at the end."""
    if observed is None or budget.budget <= 0:
        return ()
    moments = {observed, end, *(e for e in ends if observed < e < end)}
    for gap in gaps:
        moments |= {gap.end - timedelta(seconds=gap.bad_seconds), gap.end}
    return tuple(
        (t, 1 - _bad_seconds(gaps, start=observed, end=t) / budget.budget)
        for t in sorted(m for m in moments if observed <= m <= end)
    )


def _tiers(slo: SloSpec) -> list[tuple[Tier, BurnAlertSpec]]:
    found: list[tuple[Tier, BurnAlertSpec | None]] = [
        ("fast", slo.burn_alerts.fast),
        ("slow", slo.burn_alerts.slow),
    ]
    return [(tier, spec) for tier, spec in found if spec is not None]


def _by_end(record: WindowRecord) -> tuple[datetime, datetime]:
    return (record.window_end, record.window_start or record.window_end)


# -- text --------------------------------------------------------------------------------------
def indicator_text(slo: SloSpec) -> str:
    """What makes a window good: ``perf/roc_auc >= 0.75``, ``check drift/age passes`` ..."""
    if slo.objective == "freshness":
        return f"a completed window at least every {duration_text(slo.max_gap or 0)}"
    if slo.objective == "policies":
        return "every fairness policy rule judged in the window passes"
    if slo.check is not None:
        return f"check {slo.check} passes"
    if slo.min is not None and slo.max is not None:
        return f"{slo.min:g} <= {slo.metric} <= {slo.max:g}"
    if slo.min is not None:
        return f"{slo.metric} >= {slo.min:g}"
    return f"{slo.metric} <= {slo.max:g}"


def duration_text(seconds: float) -> str:
    """``26h``, ``28d``, ``5m``, ``90s``: the largest unit that divides the duration."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def percent(value: float | None) -> str:
    """``-42.9%``; ``-`` for None."""
    return "-" if value is None else f"{100 * value:.1f}%"


def rate_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2f}"


def slo_line(result: SloResult) -> str:
    """One line: SLI vs target, budget left, each tier's long/short burn rate, what fires."""
    b = result.budget
    counted = (
        f"{b.good:g}/{b.eligible:g} windows"
        if b.unit == "windows"
        else f"{duration_text(round(b.bad))} bad of {duration_text(round(b.eligible))}"
    )
    burns = ", ".join(
        f"{a.tier} {rate_text(a.long.rate)}/{rate_text(a.short.rate)} (x{a.factor:g})"
        for a in result.burn
    )
    firing = ", ".join(f"{a.tier} ({a.severity})" for a in result.firing) or "none"
    return (
        f"{result.slo.name}: SLI {percent(b.sli)} ({counted}; target {percent(result.slo.target)}),"
        f" budget left {percent(b.remaining)}, burn {burns or '-'}, firing {firing}"
    )

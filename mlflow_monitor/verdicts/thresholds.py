"""Thresholds from a metric's own history: median +/- k * MAD of the last N windows, seasonal.

Pure (no I/O): the past values come in as ``(timestamp, value)`` pairs (read from MLflow by
``adapters.mlflow.metric_history``) and go out as an ``AppliedThreshold`` that says which bound
was applied and where it came from. The median and the MAD (scaled by 1.4826 so that it estimates
the standard deviation of normal data) are robust: one past incident does not widen the band.

Seasonal variants compare a window only with past windows of the same weekday (``weekday``) or the
same hour of the week (``hour_of_week``), so a normal weekend dip is judged against past weekends.
With too little (seasonal) history the result is a *fallback marker* (source ``static_fallback``,
no bounds, a note saying how much history there was): ``evaluate_with_history`` then applies the
check's static/baseline bounds and records on the outcome that it fell back, and why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from statistics import median

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Status
from mlflow_monitor.spec import HistorySpec, MetricCheck, Severity

__all__ = [
    "FALLBACK_SOURCE",
    "MAD_SCALE",
    "evaluate_metric_check",
    "evaluate_with_history",
    "history_bound",
    "is_fallback",
    "status_for",
]

MAD_SCALE = 1.4826
FALLBACK_SOURCE = "static_fallback"
_NO_STATIC = "no static bound to fall back to"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# -- static and baseline-relative bounds ------------------------------------------------------


def status_for(violated: bool, severity: Severity) -> Status:
    """``fail`` for a violated critical check, ``warn`` for a violated warning/info check."""
    if not violated:
        return "pass"
    return "fail" if severity == "critical" else "warn"


def _bounds(check: MetricCheck, baseline: float | None) -> list[AppliedThreshold]:
    bounds: list[AppliedThreshold] = []
    if check.min is not None or check.max is not None:
        bounds.append(AppliedThreshold(check.min, check.max, "static"))
    if baseline is not None and math.isfinite(baseline):
        scale = abs(baseline) if check.relative else 1.0
        lower = baseline - check.max_drop * scale if check.max_drop is not None else None
        upper = baseline + check.max_rise * scale if check.max_rise is not None else None
        if lower is not None or upper is not None:
            bounds.append(AppliedThreshold(lower, upper, "baseline", f"baseline={baseline:.6g}"))
    return bounds


def evaluate_metric_check(
    check: MetricCheck,
    value: float | None,
    *,
    baseline: float | None = None,
    history_bound: AppliedThreshold | None = None,
    check_id: str | None = None,
    kind: str = "performance",
) -> CheckOutcome:
    """Evaluate one ``MetricCheck``: missing/NaN value is ``insufficient_data``, never a pass.

    A missing value here means the data left the metric undefined (one class only, a zero
    denominator): too little data, not a pass and not a blocker. A caller that knows the input
    itself is absent (no labels, no score) says ``not_evaluated`` before calling, as
    ``window_checks.performance_outcomes`` does: this function cannot tell the two apart.
    ``history_bound`` is the bound computed from the metric's history (see ``alerts``/``history``);
    when given it is applied alongside the static and baseline bounds. The message states the
    value, the baseline and the allowed bound separately (``roc_auc 0.5387, baseline 0.7704,
    allowed >= 0.7204 (max_drop 0.05): below``); ``CheckOutcome.baseline`` is the baseline.
    """
    cid = check_id or f"{kind}/{check.metric}"
    bounds = _bounds(check, baseline)
    if history_bound is not None:
        bounds.append(history_bound)
    if value is None or not math.isfinite(value):
        return CheckOutcome(
            cid,
            kind,
            "insufficient_data",
            check.severity,
            None,
            bounds[0] if bounds else None,
            f"{check.metric}: no value for this window",
            metric=check.metric,
            baseline=baseline,
        )
    for bound in bounds:
        side = _side(value, bound)
        if side:
            return CheckOutcome(
                cid,
                kind,
                status_for(True, check.severity),
                check.severity,
                value,
                bound,
                _reading(check, value, baseline, [bound], side),
                metric=check.metric,
                evidence={"baseline": baseline},
                baseline=baseline,
            )
    return CheckOutcome(
        cid,
        kind,
        "pass",
        check.severity,
        value,
        bounds[0] if bounds else None,
        _reading(check, value, baseline, bounds, "within"),
        metric=check.metric,
        evidence={"baseline": baseline},
        baseline=baseline,
    )


def _side(value: float, bound: AppliedThreshold) -> str:
    """``below`` / ``above`` the bound, or "" when the value is inside it."""
    if bound.lower is not None and value < bound.lower:
        return "below"
    if bound.upper is not None and value > bound.upper:
        return "above"
    return ""


def _reading(
    check: MetricCheck,
    value: float,
    baseline: float | None,
    bounds: Sequence[AppliedThreshold],
    verdict: str,
) -> str:
    """``roc_auc 0.5387, baseline 0.7704, allowed >= 0.7204 (max_drop 0.05): below``."""
    parts = [f"{check.metric} {value:.4g}"]
    if baseline is not None and math.isfinite(baseline):
        parts.append(f"baseline {baseline:.4g}")
    allowed = " and ".join(f"{_allowed(b)} ({_rule(check, b)})" for b in bounds)
    if allowed:
        parts.append(f"allowed {allowed}")
    return ", ".join(parts) + f": {verdict}"


def _allowed(bound: AppliedThreshold) -> str:
    if bound.lower is not None and bound.upper is not None:
        return f"{bound.lower:.4g} to {bound.upper:.4g}"
    if bound.lower is not None:
        return f">= {bound.lower:.4g}"
    return f"<= {bound.upper:.4g}" if bound.upper is not None else "any value"


def _rule(check: MetricCheck, bound: AppliedThreshold) -> str:
    """Where the bound comes from: ``max_drop 0.05``, ``max_rise 10% of the baseline``, ..."""
    if bound.source == "static":
        return "static"
    if bound.source != "baseline":
        return f"{bound.source}: {bound.note}" if bound.note else bound.source
    parts = [
        f"{name} {_amount(limit, relative=check.relative)}"
        for name, limit, side in (
            ("max_drop", check.max_drop, bound.lower),
            ("max_rise", check.max_rise, bound.upper),
        )
        if limit is not None and side is not None
    ]
    return ", ".join(parts)


def _amount(limit: float, *, relative: bool) -> str:
    return f"{limit * 100:g}% of the baseline" if relative else f"{limit:g}"


# -- history and seasonal bounds ---------------------------------------------------------------


def history_bound(
    spec: HistorySpec, history: Sequence[tuple[datetime, float]], at: datetime
) -> AppliedThreshold:
    """The band ``median +/- k * MAD`` of the last ``spec.window`` comparable values before ``at``.

    Values at or after ``at`` (the window being judged, e.g. when a run is retried) and
    non-finite values are ignored. Too little history returns the fallback marker.
    """
    moment = _utc(at)
    recent = _recent(spec, history, moment)
    season = _season_label(spec, moment)
    if len(recent) < spec.min_history:
        return AppliedThreshold(
            None,
            None,
            FALLBACK_SOURCE,
            f"history too short: {len(recent)} of {spec.min_history} past values{season}; "
            "static bound applied",
        )
    center = median(recent)
    spread, spread_kind = _spread(recent, center)
    source = "history" if spec.seasonal == "none" else "history_seasonal"
    note = f"median={center:.6g} {spread_kind}={spread:.6g} k={spec.k:g} n={len(recent)}{season}"
    return AppliedThreshold(center - spec.k * spread, center + spec.k * spread, source, note)


def is_fallback(bound: AppliedThreshold | None) -> bool:
    """True for the marker ``history_bound`` returns when the history is too short."""
    return bound is not None and bound.source == FALLBACK_SOURCE


def evaluate_with_history(
    check: MetricCheck,
    value: float | None,
    history: Sequence[tuple[datetime, float]],
    at: datetime,
    *,
    baseline: float | None = None,
    check_id: str | None = None,
    kind: str = "performance",
) -> CheckOutcome:
    """Evaluate a check that has ``history:``; with too little history, fall back and say so.

    On fallback the static/baseline bounds decide and the outcome's threshold carries source
    ``static_fallback`` with the note; a check with no other bound is ``insufficient_data``
    (never a silent pass): history shorter than ``min_history`` is a denominator below its
    minimum, reported with the count of past values in evidence, never a gate blocker.
    """
    if check.history is None:
        return evaluate_metric_check(check, value, baseline=baseline, check_id=check_id, kind=kind)
    bound = history_bound(check.history, history, at)
    if not is_fallback(bound):
        return evaluate_metric_check(
            check, value, baseline=baseline, history_bound=bound, check_id=check_id, kind=kind
        )
    outcome = evaluate_metric_check(check, value, baseline=baseline, check_id=check_id, kind=kind)
    if outcome.threshold is None:
        return replace(
            outcome,
            status="insufficient_data",
            threshold=bound,
            message=f"{check.metric}: {bound.note.replace('static bound applied', _NO_STATIC)}",
            evidence={
                **outcome.evidence,
                "history_values": len(_recent(check.history, history, _utc(at))),
                "min_history": check.history.min_history,
            },
        )
    applied = outcome.threshold
    fallback = AppliedThreshold(
        applied.lower,
        applied.upper,
        FALLBACK_SOURCE,
        f"{bound.note} ({applied.source}{': ' + applied.note if applied.note else ''})",
    )
    return replace(outcome, threshold=fallback)


def _utc(moment: datetime) -> datetime:
    """Naive timestamps are taken as UTC (MLflow stores epoch milliseconds)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _recent(
    spec: HistorySpec, history: Sequence[tuple[datetime, float]], moment: datetime
) -> list[float]:
    """The last ``spec.window`` finite values before ``moment`` in the same season, oldest first."""
    comparable = [(t, v) for t, v in _past_finite(history, moment) if _same_season(spec, t, moment)]
    return [v for _, v in sorted(comparable)[-spec.window :]]


def _past_finite(
    history: Sequence[tuple[datetime, float]], moment: datetime
) -> list[tuple[datetime, float]]:
    points = [(_utc(t), float(v)) for t, v in history]
    return [(t, v) for t, v in points if t < moment and math.isfinite(v)]


def _same_season(spec: HistorySpec, past: datetime, moment: datetime) -> bool:
    if spec.seasonal == "weekday":
        return past.weekday() == moment.weekday()
    if spec.seasonal == "hour_of_week":
        return (past.weekday(), past.hour) == (moment.weekday(), moment.hour)
    return True


def _season_label(spec: HistorySpec, moment: datetime) -> str:
    if spec.seasonal == "weekday":
        return f" (same weekday: {_WEEKDAYS[moment.weekday()]})"
    if spec.seasonal == "hour_of_week":
        return f" (same hour of week: {_WEEKDAYS[moment.weekday()]} {moment.hour:02d}h UTC)"
    return ""


def _spread(values: list[float], center: float) -> tuple[float, str]:
    """Scaled MAD; when more than half the values are equal (MAD 0), the scaled mean deviation.

    A zero band would flag any change at all, so a constant history falls back to the mean
    absolute deviation (scaled by sqrt(pi/2) = 1.2533) and, if that is 0 too, to 1e-9 * |median|.
    """
    deviations = [abs(v - center) for v in values]
    mad = MAD_SCALE * median(deviations)
    if mad > 0:
        return mad, "mad"
    mean_dev = 1.2533 * sum(deviations) / len(deviations)
    if mean_dev > 0:
        return mean_dev, "meanad"
    return 1e-9 * max(1.0, abs(center)), "floor"

"""Check outcomes and health: thresholds turned into pass/warn/fail with their evidence.

Pure (no I/O): every function takes numbers and spec objects and returns ``CheckOutcome``s, so the
same logic serves notebooks, the CLI and tests. ``health`` folds outcomes into the window's health.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from mlflow_monitor.spec import MetricCheck, Severity

__all__ = [
    "Status",
    "Health",
    "CheckOutcome",
    "AppliedThreshold",
    "evaluate_metric_check",
    "status_for",
    "health",
    "HEALTH_ORDER",
    "MetricValue",
]

Status = Literal["pass", "warn", "fail", "insufficient_data", "error"]
Health = Literal["healthy", "warning", "critical", "error"]
HEALTH_ORDER: dict[Health, int] = {"healthy": 0, "warning": 1, "critical": 2, "error": 3}


@dataclass(frozen=True)
class AppliedThreshold:
    """The bound actually applied to a value, and where it came from.

    ``source`` is one of ``static``, ``baseline``, ``history``, ``history_seasonal``,
    ``static_fallback`` (history requested but too short), ``policy:<pack>``, ``drift_method``.
    """

    lower: float | None
    upper: float | None
    source: str
    note: str = ""


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict with the evidence behind it (serialized into ``results.json``)."""

    check_id: str
    kind: str
    status: Status
    severity: Severity
    value: float | None
    threshold: AppliedThreshold | None
    message: str
    metric: str | None = None
    evidence: dict[str, float | int | str | None] = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        """True when the outcome is a finding people should hear about."""
        return self.status in ("warn", "fail", "error")


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

    ``history_bound`` is the bound computed from the metric's history (see ``alerts``/``history``);
    when given it is applied alongside the static and baseline bounds.
    """
    cid = check_id or f"{kind}/{check.metric}"
    bounds = _bounds(check, baseline)
    if history_bound is not None:
        bounds.append(history_bound)
    if value is None or not math.isfinite(value):
        return CheckOutcome(
            cid, kind, "insufficient_data", check.severity, None, bounds[0] if bounds else None,
            f"{check.metric}: no value for this window", metric=check.metric,
        )
    for bound in bounds:
        low_bad = bound.lower is not None and value < bound.lower
        high_bad = bound.upper is not None and value > bound.upper
        if low_bad or high_bad:
            side = f"< {bound.lower:.4g}" if low_bad else f"> {bound.upper:.4g}"
            return CheckOutcome(
                cid, kind, status_for(True, check.severity), check.severity, value, bound,
                f"{check.metric} = {value:.4g} {side} ({bound.source})", metric=check.metric,
                evidence={"baseline": baseline},
            )
    applied = bounds[0] if bounds else None
    return CheckOutcome(
        cid, kind, "pass", check.severity, value, applied,
        f"{check.metric} = {value:.4g} within bounds", metric=check.metric,
        evidence={"baseline": baseline},
    )


def health(outcomes: list[CheckOutcome]) -> Health:
    """Worst of the outcomes: error > critical (any fail) > warning (any warn) > healthy."""
    statuses = {o.status for o in outcomes}
    if "error" in statuses:
        return "error"
    if "fail" in statuses:
        return "critical"
    if "warn" in statuses:
        return "warning"
    return "healthy"


@dataclass(frozen=True)
class MetricValue:
    """One metric to log: contract name (``perf/roc_auc``, ``drift/age/wasserstein`` ...) and value."""

    name: str
    value: float

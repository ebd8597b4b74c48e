"""Check outcomes and health: thresholds turned into pass/warn/fail with their evidence.

Pure (no I/O): every function takes numbers and spec objects and returns ``CheckOutcome``s, so the
same logic serves notebooks, the CLI and tests. ``health`` folds outcomes into the window's health.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from mlflow_monitor.spec import DriftSpec, MetricCheck, QualitySpec, SegmentsSpec, Severity

if TYPE_CHECKING:
    from mlflow_monitor.stats.drift import ColumnDrift, DriftReport
    from mlflow_monitor.stats.performance import PerformanceResult
    from mlflow_monitor.stats.quality import ColumnQuality, QualityReport
    from mlflow_monitor.stats.segments import SegmentReport

__all__ = [
    "HEALTH_ORDER",
    "AppliedThreshold",
    "CheckOutcome",
    "Health",
    "MetricValue",
    "Status",
    "drift_outcomes",
    "evaluate_metric_check",
    "health",
    "performance_outcomes",
    "quality_outcomes",
    "segment_outcomes",
    "status_for",
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
            cid,
            kind,
            "insufficient_data",
            check.severity,
            None,
            bounds[0] if bounds else None,
            f"{check.metric}: no value for this window",
            metric=check.metric,
        )
    for bound in bounds:
        low_bad = bound.lower is not None and value < bound.lower
        high_bad = bound.upper is not None and value > bound.upper
        if low_bad or high_bad:
            side = f"< {bound.lower:.4g}" if low_bad else f"> {bound.upper:.4g}"
            return CheckOutcome(
                cid,
                kind,
                status_for(True, check.severity),
                check.severity,
                value,
                bound,
                f"{check.metric} = {value:.4g} {side} ({bound.source})",
                metric=check.metric,
                evidence={"baseline": baseline},
            )
    applied = bounds[0] if bounds else None
    return CheckOutcome(
        cid,
        kind,
        "pass",
        check.severity,
        value,
        applied,
        f"{check.metric} = {value:.4g} within bounds",
        metric=check.metric,
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
    """One metric to log: contract name (e.g. ``perf/roc_auc``) and value."""

    name: str
    value: float


# -- window outcomes: drift, performance, quality (pipeline room) -------------------------------


def drift_outcomes(
    report: DriftReport, spec: DriftSpec, *, prefix: str = "drift", share: bool = True
) -> list[CheckOutcome]:
    """One outcome per column (``<prefix>/<column>``) plus, with ``share``, the drifted share.

    A column drifted beyond its method's threshold is a finding of ``spec.column_severity``; the
    share of drifted columns is a warning from ``share_warning`` and critical from
    ``share_critical``. A column that could not be evaluated is ``insufficient_data``.
    """
    outcomes = [_column_drift_outcome(c, spec, prefix) for c in report.columns]
    if share:
        outcomes.append(_share_outcome(report, spec))
    return outcomes


def _column_drift_outcome(c: ColumnDrift, spec: DriftSpec, prefix: str) -> CheckOutcome:
    check_id = f"{prefix}/{c.column}"
    evidence: dict[str, float | int | str | None] = {
        "method": c.method,
        "reference_rows": c.reference_rows,
        "current_rows": c.current_rows,
        "p_value_adjusted": c.p_value_adjusted,
    }
    if c.status != "ok" or c.score is None:
        return CheckOutcome(
            check_id,
            "drift",
            "insufficient_data",
            spec.column_severity,
            None,
            None,
            f"{c.column}: drift not evaluated ({c.note or 'too little data'})",
            metric=c.method,
            evidence=evidence,
        )
    p_value = c.method in ("ks", "chisquare", "z")
    bound = AppliedThreshold(
        c.threshold if p_value else None, None if p_value else c.threshold, "drift_method", c.method
    )
    verdict = "drifted" if c.drifted else "no drift"
    return CheckOutcome(
        check_id,
        "drift",
        status_for(c.drifted, spec.column_severity),
        spec.column_severity,
        c.score,
        bound,
        f"{c.column}: {verdict} ({c.method} = {c.score:.4g}, threshold {c.threshold:.4g})",
        metric=c.method,
        evidence=evidence,
    )


def _share_outcome(report: DriftReport, spec: DriftSpec) -> CheckOutcome:
    value = report.share_drifted
    evaluated = len(report.evaluated)
    evidence: dict[str, float | int | str | None] = {
        "number_drifted": report.number_drifted,
        "evaluated_columns": evaluated,
    }
    if report.status != "ok":
        return CheckOutcome(
            "drift/share_drifted",
            "drift",
            "insufficient_data",
            "critical",
            None,
            None,
            "share of drifted columns: no column could be evaluated",
            evidence=evidence,
        )
    severity: Severity = "critical" if value >= spec.share_critical else "warning"
    violated = value >= spec.share_warning
    limit = spec.share_critical if severity == "critical" else spec.share_warning
    return CheckOutcome(
        "drift/share_drifted",
        "drift",
        status_for(violated, severity),
        severity,
        value,
        AppliedThreshold(None, limit, "static", "share of drifted feature columns"),
        f"{report.number_drifted} of {evaluated} feature columns drifted ({value:.0%})",
        metric="share_drifted",
        evidence=evidence,
    )


def performance_outcomes(
    result: PerformanceResult | None,
    baseline: PerformanceResult | None,
    checks: Sequence[MetricCheck],
    *,
    history: Mapping[str, Sequence[tuple[datetime, float]]] | None = None,
    at: datetime | None = None,
) -> list[CheckOutcome]:
    """One outcome per performance check against the baseline (and history, when configured).

    No labels in the window, or no baseline value for a check with only baseline-relative
    bounds: ``insufficient_data`` with the reason, never a pass. ``history`` maps contract names
    (``perf/<metric>``) to past ``(window end, value)`` pairs; ``at`` is this window's end.
    """
    outcomes: list[CheckOutcome] = []
    for check in checks:
        value = result.get(check.metric) if result is not None else None
        base = baseline.get(check.metric) if baseline is not None else None
        check_id = f"performance/{check.metric}"
        static = check.min is not None or check.max is not None
        if result is None or result.labelled_rows == 0:
            reason = "no labelled rows in this window" if result is not None else "no labels"
            outcomes.append(_insufficient(check, check_id, f"{check.metric}: {reason}"))
        elif not static and check.history is None and base is None:
            outcomes.append(_insufficient(check, check_id, f"{check.metric}: no baseline value"))
        elif check.history is not None and at is not None:
            from mlflow_monitor.history import evaluate_with_history

            past = (history or {}).get(f"perf/{check.metric}", [])
            outcomes.append(
                evaluate_with_history(
                    check, value, past, at, baseline=base, check_id=check_id, kind="performance"
                )
            )
        else:
            outcomes.append(evaluate_metric_check(check, value, baseline=base, check_id=check_id))
    return outcomes


def _insufficient(check: MetricCheck, check_id: str, message: str) -> CheckOutcome:
    return CheckOutcome(
        check_id,
        "performance",
        "insufficient_data",
        check.severity,
        None,
        None,
        message,
        metric=check.metric,
    )


def quality_outcomes(report: QualityReport, spec: QualitySpec) -> list[CheckOutcome]:
    """Row count, schema (absent/wrong-typed columns: critical) and share limits per column."""
    rows_ok = report.rows >= spec.min_rows
    outcomes = [
        CheckOutcome(
            "quality/rows",
            "quality",
            "pass" if rows_ok else "insufficient_data",
            spec.severity,
            float(report.rows),
            AppliedThreshold(float(spec.min_rows), None, "static"),
            f"{report.rows} rows" + ("" if rows_ok else f" (< quality.min_rows {spec.min_rows})"),
            metric="rows",
        )
    ]
    for column in report.columns:
        outcomes.extend(_column_quality(column, spec))
    return outcomes


def _column_quality(c: ColumnQuality, spec: QualitySpec) -> list[CheckOutcome]:
    if not c.present or not c.dtype_ok:
        problem = "absent from the window" if not c.present else f"wrong type {c.dtype}"
        return [
            CheckOutcome(
                f"quality/{c.column}/schema",
                "quality",
                "fail",
                "critical",
                None,
                None,
                f"{c.column}: {problem}" + (f" ({c.note})" if c.note else ""),
                metric="schema",
            )
        ]
    limits = {
        "missing_share": (c.missing_share, spec.max_missing_share),
        "out_of_range_share": (c.out_of_range_share, spec.max_out_of_range_share),
        "unseen_share": (c.unseen_share, spec.max_unseen_share),
    }
    outcomes = []
    for check, (share, limit) in limits.items():
        if share is None:
            continue
        violated = share > limit
        examples = ", ".join(c.unseen_values[:5]) if check == "unseen_share" else ""
        outcomes.append(
            CheckOutcome(
                f"quality/{c.column}/{check}",
                "quality",
                status_for(violated, spec.severity),
                spec.severity,
                share,
                AppliedThreshold(None, limit, "static"),
                f"{c.column}: {check} = {share:.2%}"
                + (f" (> {limit:.2%})" if violated else "")
                + (f"; e.g. {examples}" if violated and examples else ""),
                metric=check,
                evidence={"rows": c.rows},
            )
        )
    return outcomes


def segment_outcomes(report: SegmentReport, spec: SegmentsSpec) -> list[CheckOutcome]:
    """One outcome per segment: its metric may degrade at most ``spec.max_drop`` vs its baseline.

    Segments below ``min_size``, new segments and segments without labels are
    ``insufficient_data`` with the counts, never a pass.
    """
    from mlflow_monitor.stats.performance import higher_is_better

    outcomes = []
    for r in report.results:
        check_id = f"segment/{r.column}={r.segment}"
        evidence: dict[str, float | int | str | None] = {
            "rows": r.rows,
            "reference_rows": r.reference_rows,
            "baseline": r.baseline_value,
            "share_drifted": r.share_drifted,
        }
        if r.status != "ok" or r.degradation is None or r.baseline_value is None:
            why = r.note or ("new segment" if r.is_new else "no comparable value")
            outcomes.append(
                CheckOutcome(
                    check_id,
                    "segment",
                    "insufficient_data",
                    spec.severity,
                    r.value,
                    None,
                    f"{r.column}={r.segment}: {why}",
                    metric=r.metric,
                    evidence=evidence,
                )
            )
            continue
        up = higher_is_better(r.metric)
        bound = AppliedThreshold(
            r.baseline_value - spec.max_drop if up else None,
            None if up else r.baseline_value + spec.max_drop,
            "baseline",
            f"baseline={r.baseline_value:.6g}",
        )
        violated = r.degradation > spec.max_drop
        outcomes.append(
            CheckOutcome(
                check_id,
                "segment",
                status_for(violated, spec.severity),
                spec.severity,
                r.value,
                bound,
                f"{r.column}={r.segment}: {r.metric} {r.value:.4g} "
                f"vs baseline {r.baseline_value:.4g}"
                + (f" (worse by {r.degradation:.4g} > {spec.max_drop:g})" if violated else ""),
                metric=r.metric,
                evidence=evidence,
            )
        )
    return outcomes

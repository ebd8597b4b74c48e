"""Window checks: drift, performance, quality and segment results turned into check outcomes.

Pure (no I/O): every function takes statistics and spec objects and returns ``CheckOutcome``s
(``contract``), so the same logic serves notebooks, the CLI and tests. Bounds come from
``thresholds`` (static, relative to the baseline, history and seasonal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome
from mlflow_monitor.spec import DriftSpec, MetricCheck, QualitySpec, SegmentsSpec, Severity
from mlflow_monitor.verdicts.thresholds import (
    evaluate_metric_check,
    evaluate_with_history,
    status_for,
)

if TYPE_CHECKING:
    from mlflow_monitor.stats.drift import ColumnDrift, DriftReport
    from mlflow_monitor.stats.performance import PerformanceResult
    from mlflow_monitor.stats.quality import ColumnQuality, QualityReport
    from mlflow_monitor.stats.segments import SegmentReport

__all__ = [
    "drift_outcomes",
    "performance_outcomes",
    "quality_outcomes",
    "segment_outcomes",
]

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

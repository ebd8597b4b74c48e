"""Window checks: drift, performance, quality and segment results turned into check outcomes.

Pure (no I/O): every function takes statistics and spec objects and returns ``CheckOutcome``s
(``contract``), so the same logic serves notebooks, the CLI and tests. Bounds come from
``thresholds`` (static, relative to the baseline, history and seasonal).

A check that cannot be judged is never a pass, and it is one of two things:

- ``not_evaluated``: its input is absent: no labels in the window (no target column, an
  all-missing target, an empty window), no score for a score metric (ROC AUC, PR AUC, log loss,
  Brier), no baseline value for a check bounded by the baseline only, a segment without a
  label. A critical one makes the window partial (``WindowResults.partial``) and a gate refuses.
- ``insufficient_data``: the input is there but a denominator is below its minimum: a segment
  below ``min_size``, a drift column without usable values, fewer rows than
  ``quality.min_rows``, a metric the labelled rows leave undefined (one class only, no predicted
  positive), history too short. Reported with its counts in ``evidence``; never blocks a gate.

Neither is a finding: health comes from fail, warn and error only, and neither pages anyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, Evidence
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
    from mlflow_monitor.stats.segments import SegmentReport, SegmentResult

__all__ = [
    "NO_LABELS",
    "SCORE_METRICS",
    "drift_outcomes",
    "performance_outcomes",
    "quality_outcomes",
    "segment_outcomes",
]

NO_LABELS = "no labels in the window"
# Metrics computed from a score (binary) or class probabilities (multiclass log loss).
SCORE_METRICS = frozenset({"roc_auc", "pr_auc", "log_loss", "brier"})

# -- window outcomes: drift, performance, quality (pipeline room) -------------------------------


def drift_outcomes(
    report: DriftReport, spec: DriftSpec, *, prefix: str = "drift", share: bool = True
) -> list[CheckOutcome]:
    """One outcome per column (``<prefix>/<column>``) plus, with ``share``, the drifted share.

    A column drifted beyond its method's threshold is a finding of ``spec.column_severity``; the
    share of drifted columns is a warning from ``share_warning`` and critical from
    ``share_critical``. A column without usable values on a side is ``insufficient_data`` with
    the counts (``reference_rows``, ``current_rows``).
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
            f"{c.column}: too little data for drift ({c.note or 'no usable values'})",
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
            "share of drifted columns: no column had usable values",
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

    ``not_evaluated`` with the reason when the check's input is absent (``_absent_input``: no
    labels, no score for a score metric, no baseline value for a baseline-only check);
    ``insufficient_data`` when the labelled rows leave the metric undefined. Every outcome
    carries the window's ``rows`` and ``labelled_rows`` in its evidence. ``history`` maps contract
    names (``perf/<metric>``) to past ``(window end, value)`` pairs; ``at`` is this window's end.
    """
    outcomes: list[CheckOutcome] = []
    for check in checks:
        check_id = f"performance/{check.metric}"
        base = baseline.get(check.metric) if baseline is not None else None
        absent = _absent_input(result, check, base)
        if absent or result is None:
            outcomes.append(_not_evaluated(check, check_id, absent or NO_LABELS, result))
            continue
        outcomes.append(_with_counts(_judge(check, check_id, result, base, history, at), result))
    return outcomes


def _absent_input(result: PerformanceResult | None, check: MetricCheck, base: float | None) -> str:
    """Why the check's input is absent ("" when it is there): labels, score or baseline value.

    An empty window has no labels either; a labelled window whose rows all lack the prediction
    or score has no usable label (the stats note on the message says which).
    """
    if result is None:
        return f"{NO_LABELS} (no target column)"
    if result.labelled_rows == 0:
        return NO_LABELS
    if check.metric in SCORE_METRICS and not SCORE_METRICS & result.metrics.keys():
        return f"no score column for {check.metric}"
    static = check.min is not None or check.max is not None
    if not static and check.history is None and base is None:
        return f"no baseline value for {check.metric}"
    return ""


def _judge(
    check: MetricCheck,
    check_id: str,
    result: PerformanceResult,
    base: float | None,
    history: Mapping[str, Sequence[tuple[datetime, float]]] | None,
    at: datetime | None,
) -> CheckOutcome:
    """The check on a window that has its input: static, baseline and history bounds."""
    value = result.get(check.metric)
    if check.history is not None and at is not None:
        past = (history or {}).get(f"perf/{check.metric}", [])
        return evaluate_with_history(
            check, value, past, at, baseline=base, check_id=check_id, kind="performance"
        )
    return evaluate_metric_check(check, value, baseline=base, check_id=check_id)


def _counts(result: PerformanceResult | None) -> Evidence:
    if result is None:
        return {}
    return {"rows": result.rows, "labelled_rows": result.labelled_rows}


def _with_counts(outcome: CheckOutcome, result: PerformanceResult) -> CheckOutcome:
    """The window's counts in the evidence; an undefined metric also says why (the stats note)."""
    why = f" ({result.note})" if outcome.status == "insufficient_data" and result.note else ""
    return replace(
        outcome,
        message=outcome.message + why,
        evidence={**outcome.evidence, **_counts(result)},
    )


def _not_evaluated(
    check: MetricCheck, check_id: str, reason: str, result: PerformanceResult | None
) -> CheckOutcome:
    return CheckOutcome(
        check_id,
        "performance",
        "not_evaluated",
        check.severity,
        None,
        None,
        f"{check.metric}: not evaluated, {reason}"
        + (f" ({result.note})" if result is not None and result.note else ""),
        metric=check.metric,
        evidence={**_counts(result), "reason": reason},
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
            evidence={"rows": report.rows, "min_rows": spec.min_rows},
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

    A segment below ``min_size`` (window or reference rows, or labelled rows), a new segment and
    a metric the segment leaves undefined are ``insufficient_data`` with the counts in evidence;
    a segment of ``min_size`` rows without a single label is ``not_evaluated`` (no labels).
    Never a pass.
    """
    from mlflow_monitor.stats.performance import higher_is_better

    outcomes = []
    for r in report.results:
        check_id = f"segment/{r.column}={r.segment}"
        evidence: Evidence = {
            "rows": r.rows,
            "reference_rows": r.reference_rows,
            "labelled_rows": r.labelled_rows,
            "min_size": report.min_size,
            "baseline": r.baseline_value,
            "share_drifted": r.share_drifted,
        }
        if r.status == "ok" and r.labelled_rows == 0:
            outcomes.append(_unlabelled_segment(r, spec, evidence))
            continue
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


def _unlabelled_segment(r: SegmentResult, spec: SegmentsSpec, evidence: Evidence) -> CheckOutcome:
    reason = f"no labels in the segment ({r.rows} rows)"
    return CheckOutcome(
        f"segment/{r.column}={r.segment}",
        "segment",
        "not_evaluated",
        spec.severity,
        None,
        None,
        f"{r.column}={r.segment}: not evaluated, {reason}",
        metric=r.metric,
        evidence={**evidence, "reason": reason},
    )

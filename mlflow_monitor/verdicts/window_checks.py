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
  below ``min_size`` or with a class below ``min_class_size``, a segment drop whose confidence
  interval also holds no drop at all, a drift column without usable values, fewer rows than
  ``quality.min_rows``, a metric the labelled rows leave undefined (one class only, no predicted
  positive), history too short. Reported with its counts in ``evidence``; never blocks a gate.

Neither is a finding: health comes from fail, warn and error only, and neither pages anyone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from mlflow_monitor.contract import (
    DEFAULT_CONFIDENCE,
    AppliedThreshold,
    CheckOutcome,
    Evidence,
    Interval,
)
from mlflow_monitor.spec import DriftSpec, MetricCheck, QualitySpec, SegmentsSpec, Severity
from mlflow_monitor.verdicts.interval_verdict import judge_interval, routed_severity
from mlflow_monitor.verdicts.thresholds import (
    evaluate_metric_check,
    evaluate_with_history,
    status_for,
)

if TYPE_CHECKING:
    from mlflow_monitor.stats.drift import ColumnDrift, DriftReport
    from mlflow_monitor.stats.performance import PerformanceResult
    from mlflow_monitor.stats.quality import ColumnQuality, DuplicateCount, QualityReport
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
# Metrics bounded by 1 (their intervals are cut there); every metric with an interval is >= 0.
_AT_MOST_ONE = frozenset({"roc_auc", "f1_macro", "f1_weighted", "brier"})
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
    if c.effect_name:
        evidence.update(effect=c.effect, effect_name=c.effect_name, min_effect=c.min_effect)
    if c.status != "ok" or c.score is None:
        return CheckOutcome(
            check_id,
            "drift",
            "insufficient_data",
            spec.column_severity,
            None,
            None,
            f"{c.column}: {c.note}"
            if c.note.startswith("not drift-tested")
            else f"{c.column}: too little data for drift ({c.note or 'no usable values'})",
            metric=c.method,
            evidence=evidence,
        )
    p_value = c.method in ("ks", "chisquare", "z")
    bound = AppliedThreshold(
        c.threshold if p_value else None, None if p_value else c.threshold, "drift_method", c.method
    )
    return CheckOutcome(
        check_id,
        "drift",
        status_for(c.drifted, spec.column_severity),
        spec.column_severity,
        c.score,
        bound,
        f"{c.column}: {'drifted' if c.drifted else 'no drift'} ({_drift_reading(c)})",
        metric=c.method,
        evidence=evidence,
    )


_EFFECT_LABELS = {"ks_statistic": "D", "jensenshannon": "JS", "proportion_difference": "|dp|"}


def _drift_reading(c: ColumnDrift) -> str:
    """``ks p=0.001 < 0.05, D=0.18 >= 0.1``: the test and the effect, each against its line."""
    assert c.score is not None
    if not c.effect_name:
        return f"{c.method} = {c.score:.4g}, threshold {c.threshold:.4g}"
    if c.score == c.threshold:
        side = "<=" if c.significant else ">="
    else:
        side = "<" if c.score < c.threshold else ">"
    test = f"{c.method} p={c.score:.3g} {side} {c.threshold:g}"
    if c.effect is None:
        return test
    label = _EFFECT_LABELS.get(c.effect_name, c.effect_name)
    large = ">=" if c.effect >= c.min_effect else "<"
    return f"{test}, {label}={c.effect:.3g} {large} {c.min_effect:g}"


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
    level: float = DEFAULT_CONFIDENCE,
) -> list[CheckOutcome]:
    """One outcome per performance check against the baseline (and history, when configured).

    ``not_evaluated`` with the reason when the check's input is absent (``_absent_input``: no
    labels, no score for a score metric, no baseline value for a baseline-only check);
    ``insufficient_data`` when the labelled rows leave the metric undefined. Every outcome
    carries the window's ``rows`` and ``labelled_rows`` in its evidence and the baseline's value
    in ``baseline``. ``history`` maps contract names (``perf/<metric>``) to past ``(window end,
    value)`` pairs; ``at`` is this window's end. A judged value also carries its confidence
    interval at ``level`` (``_value_interval``), reported only: windows are large and the checks
    are judged on the value, as before.
    """
    outcomes: list[CheckOutcome] = []
    for check in checks:
        check_id = f"performance/{check.metric}"
        base = baseline.get(check.metric) if baseline is not None else None
        absent = _absent_input(result, check, base)
        if absent or result is None:
            outcome = _not_evaluated(check, check_id, absent or NO_LABELS, result)
            outcomes.append(replace(outcome, baseline=base))
            continue
        judged = _with_counts(_judge(check, check_id, result, base, history, at), result)
        interval = _value_interval(result, check.metric, level)
        outcomes.append(replace(judged, baseline=base, interval=interval))
    return outcomes


def _value_interval(result: PerformanceResult, metric: str, level: float) -> Interval | None:
    """Wilson's for a rate over its denominator, else value +/- z * standard error (DeLong ...)."""
    from mlflow_monitor.stats.intervals import wilson, z_value
    from mlflow_monitor.stats.performance import standard_error_method

    value, error = result.get(metric), result.standard_errors.get(metric)
    denominator = result.denominators.get(metric)
    if value is None or error is None or not math.isfinite(value):
        return None
    method = standard_error_method(metric)
    if method == "wilson" and denominator:
        successes = min(denominator, max(0, round(value * denominator)))
        low, high = wilson(successes, denominator, level=level)
        return Interval(low, high, level, method, denominator)
    spread = z_value(level) * error
    high = value + spread
    if metric in _AT_MOST_ONE:
        high = min(1.0, high)
    return Interval(max(0.0, value - spread), high, level, method, denominator)


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
    """Row count, schema (absent/wrong-typed columns: critical), share limits per column,
    duplicated rows and ids (above ``max_duplicate_share``) and id-like columns (reported as
    ``insufficient_data``: all values distinct, no distribution to test)."""
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
    limit = spec.max_duplicate_share
    for duplicates in (report.duplicate_rows, report.duplicate_ids):
        if duplicates is not None and duplicates.share is not None:
            outcomes.append(_duplicate_outcome(duplicates, limit, spec.severity))
    for column in report.columns:
        outcomes.extend(_column_quality(column, spec))
    return outcomes


def _column_quality(c: ColumnQuality, spec: QualitySpec) -> list[CheckOutcome]:
    """Schema, else the share limits; an id-like column is reported as such, and its range and
    categories (every new id is out of range or unseen) are not judged."""
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
    if c.id_like:
        limits = {"missing_share": limits["missing_share"]}
    outcomes = [_id_like_outcome(c)] if c.id_like else []
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


def _duplicate_outcome(d: DuplicateCount, limit: float, severity: Severity) -> CheckOutcome:
    """Rows repeating an earlier row: ``quality/duplicate_row_share`` (in every column) or
    ``quality/<id>/duplicate_share`` (by id)."""
    share, count = d.share or 0.0, d.duplicates or 0
    violated = share > limit
    check = "duplicate_row_share" if d.column is None else "duplicate_share"
    name = "rows" if d.column is None else d.column
    what = "an earlier row in every column" if d.column is None else "the id of an earlier row"
    examples = f", e.g. {', '.join(d.examples[:5])}" if violated and d.examples else ""
    return CheckOutcome(
        f"quality/{check}" if d.column is None else f"quality/{d.column}/{check}",
        "quality",
        status_for(violated, severity),
        severity,
        share,
        AppliedThreshold(None, limit, "static", "max_duplicate_share"),
        f"{name}: {count:,} of {d.rows:,} rows ({share:.2%}) repeat {what}"
        + (f" (> {limit:.2%}; {d.repeated:,} repeated{examples})" if violated else ""),
        metric=check,
        evidence={"rows": d.rows, "duplicates": count, "repeated": d.repeated,
                  "missing_ids": d.missing},
    )  # fmt: skip


def _id_like_outcome(c: ColumnQuality) -> CheckOutcome:
    """``quality/<column>/id_like``: all values distinct, so no drift test (insufficient_data)."""
    return CheckOutcome(
        f"quality/{c.column}/id_like",
        "quality",
        "insufficient_data",
        "info",
        None,
        None,
        f"{c.column}: id-like, not drift-tested ({c.id_like})",
        metric="id_like",
        evidence={"rows": c.rows, "reason": c.id_like},
    )


def segment_outcomes(report: SegmentReport, spec: SegmentsSpec) -> list[CheckOutcome]:
    """One outcome per segment: its metric may degrade at most ``spec.max_drop`` vs its baseline.

    The drop (baseline - window; window - baseline for an error) is judged with its confidence
    interval at ``report.level`` by ``judge_interval``, the line ``max_drop``, parity no drop:
    the whole interval beyond the line is a finding at ``spec.severity``; the estimate beyond it
    with the interval straddling it a warning when the interval excludes 0, else
    ``insufficient_data`` (chance cannot be told from a drop). A metric without a standard error
    (PR AUC, R²) is judged on the estimate and says so. A segment below ``min_size`` (window or
    reference rows, or labelled rows) or ``min_class_size`` (labelled rows of a class), a new
    segment and a metric the segment leaves undefined are ``insufficient_data`` (never a pass)
    with the counts in evidence; a segment of ``min_size`` rows without a single label is
    ``not_evaluated`` (no labels).
    """
    outcomes = []
    judged = [
        r
        for r in report.results
        if r.status == "ok" and r.labelled_rows and r.degradation is not None
        and r.baseline_value is not None
    ]  # fmt: skip
    # Bonferroni over the segments judged: the window's segments together keep report.level
    level = 1.0 - (1.0 - report.level) / max(1, len(judged))
    for r in report.results:
        evidence = _segment_evidence(r, report)
        if r.status == "ok" and r.labelled_rows == 0:
            outcomes.append(_unlabelled_segment(r, spec, evidence))
        elif r.status != "ok" or r.degradation is None or r.baseline_value is None:
            why = r.note or ("new segment" if r.is_new else "no comparable value")
            outcomes.append(
                CheckOutcome(
                    f"segment/{r.column}={r.segment}",
                    "segment",
                    "insufficient_data",
                    spec.severity,
                    r.value,
                    None,
                    f"{r.column}={r.segment}: {why}",
                    metric=r.metric,
                    evidence=evidence,
                    baseline=r.baseline_value,
                )
            )
        else:
            outcomes.append(_segment_drop(r, spec, level, evidence))
    return outcomes


def _segment_evidence(r: SegmentResult, report: SegmentReport) -> Evidence:
    """Rows, labelled rows, the minimums and each side's class counts and standard error."""
    evidence: Evidence = {
        "rows": r.rows,
        "reference_rows": r.reference_rows,
        "labelled_rows": r.labelled_rows,
        "min_size": report.min_size,
        "min_class_size": report.min_class_size,
        "baseline": r.baseline_value,
        "share_drifted": r.share_drifted,
    }
    for prefix, spread in (("", r.spread), ("reference_", r.baseline_spread)):
        if spread is None:
            continue
        evidence[f"{prefix}standard_error"] = spread.standard_error
        evidence.update({f"{prefix}{k}": v for k, v in spread.classes.items()})
    return evidence


def _segment_drop(
    r: SegmentResult, spec: SegmentsSpec, level: float, evidence: Evidence
) -> CheckOutcome:
    """The drop judged with its interval (on the estimate alone when there is no interval)."""
    from mlflow_monitor.stats.performance import higher_is_better

    assert r.degradation is not None and r.baseline_value is not None and r.value is not None
    up = higher_is_better(r.metric)
    bound = AppliedThreshold(
        r.baseline_value - spec.max_drop if up else None,
        None if up else r.baseline_value + spec.max_drop,
        "baseline",
        f"baseline={r.baseline_value:.6g}",
    )
    interval = _drop_interval(r, level, up=up)
    if interval is None:
        status = status_for(r.degradation > spec.max_drop, spec.severity)
        reason = f"no confidence interval for {r.metric}: judged on the estimate alone"
    else:
        verdict = judge_interval(
            point=r.degradation,
            low=interval.low,
            high=interval.high,
            violated=lambda x: x > spec.max_drop,
            severity=spec.severity,
            parity=0.0,
        )
        status, reason = verdict.status, verdict.reason
    drop = "drop" if up else "rise"
    shown = f" {interval.text()}" if interval else ""
    return CheckOutcome(
        f"segment/{r.column}={r.segment}",
        "segment",
        status,
        routed_severity(status, spec.severity),
        r.value,
        bound,
        f"{r.column}={r.segment}: {r.metric} {r.value:.4g}, baseline {r.baseline_value:.4g}, "
        f"{drop} {r.degradation:.4g}{shown}, max_drop {spec.max_drop:g}{_class_text(r)}: {reason}",
        metric=r.metric,
        evidence=evidence,
        interval=interval,
        baseline=r.baseline_value,
    )


def _drop_interval(r: SegmentResult, level: float, *, up: bool) -> Interval | None:
    """Interval of the drop (baseline - window; window - baseline when lower is better).

    Newcombe's when both sides are rates with their denominators, else the normal interval
    from both sides' standard errors; None when a side has none. The denominators are the
    window's and the baseline's for the metric (labelled rows, or a rate's own denominator).
    """
    from mlflow_monitor.stats.intervals import difference_interval, newcombe

    window, base = r.spread, r.baseline_spread
    if window is None or base is None or r.value is None or r.baseline_value is None:
        return None
    if window.standard_error is None or base.standard_error is None:
        return None
    sides = [(r.baseline_value, base), (r.value, window)]
    (first, first_spread), (second, second_spread) = sides if up else sides[::-1]
    if window.method == base.method == "wilson" and window.denominator and base.denominator:
        low, high = newcombe(
            _successes(first, first_spread.denominator), first_spread.denominator,
            _successes(second, second_spread.denominator), second_spread.denominator,
            level=level,
        )  # fmt: skip
        return Interval(
            low, high, level, "newcombe", window.denominator, base.denominator, of=_drop_word(up)
        )
    low, high = difference_interval(
        first,
        first_spread.standard_error or 0.0,
        second,
        second_spread.standard_error or 0.0,
        level=level,
    )
    methods = window.method if window.method == base.method else f"{window.method}/{base.method}"
    return Interval(
        low, high, level, f"{methods} difference", window.denominator, base.denominator,
        of=_drop_word(up),
    )  # fmt: skip


def _drop_word(up: bool) -> str:
    return "drop" if up else "rise"


def _successes(rate: float, denominator: int) -> int:
    return min(denominator, max(0, round(rate * denominator)))


def _class_text(r: SegmentResult) -> str:
    """``; classes 60+/190- vs 240+/760-`` (labelled rows per class, window vs baseline)."""

    def counts(classes: Mapping[str, int]) -> str:
        if set(classes) == {"positives", "negatives"}:
            return f"{classes['positives']}+/{classes['negatives']}-"
        return "/".join(f"{k.removeprefix('class=')}:{v}" for k, v in classes.items())

    if r.spread is None or not r.spread.classes:
        return ""
    text = f"; classes {counts(r.spread.classes)}"
    if r.baseline_spread is not None and r.baseline_spread.classes:
        text += f" vs {counts(r.baseline_spread.classes)}"
    return text


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

"""Fairness checks: a window's fairness, its bias drift and its policy rules as check outcomes.

``reference_fairness`` computes the baseline's fairness (stored in the Baseline through
``FairnessReport.to_dict()``); ``evaluate_fairness`` computes a window's fairness against it and
returns ``FairnessEvaluation``: the report, the bias-drift tests, every policy rule's per-group
results, the ``CheckOutcome``s that feed health, and the metrics to log under
``fairness/<attribute>=<group>/<metric>``.

Check ids: ``policy/<pack>/<rule id>/<attribute>=<group>`` (kind ``policy``, threshold source
``policy:<pack>``), ``bias_drift/<attribute>=<group>/<metric>`` (kind ``bias_drift``),
``fairness/<attribute>=<group>/group_size`` and ``fairness/labels`` (kind ``fairness``).

Decisions: with a ``columns.score`` column the decision is ``score >= fairness.decision_threshold``
(aequitas's ``score_val`` convention); otherwise ``columns.prediction == positive_label``.

Unjudged checks: in a window without labels (no target column, or every label missing) the
label-based rules (TPR, FNR, FPR ...) and ``fairness/labels`` are ``not_evaluated``, their input
is absent (a critical rule makes the window partial and a gate refuses); selection-rate rules
still run. A group below its minimum size, a reference group too small, a rate whose own
denominator is empty are ``insufficient_data`` with the counts in evidence: reported, never
blocking, never paging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlflow_monitor.contract import AppliedThreshold, CheckOutcome, MetricValue, Status
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import MonitorSpec
from mlflow_monitor.stats.bias_drift import BiasDriftReport, compare_fairness
from mlflow_monitor.stats.fairness import (
    REFERENCE_MAJORITY,
    REFERENCE_MIN_DISPARITY,
    AttributeFairness,
    FairnessReport,
    GroupMetrics,
    compare_rates,
    compute_fairness,
)
from mlflow_monitor.verdicts.policies import PolicyPack, PolicyRule, load_packs
from mlflow_monitor.verdicts.thresholds import status_for
from mlflow_monitor.verdicts.window_checks import NO_LABELS

__all__ = [
    "LABEL_FREE_MESSAGE",
    "Decision",
    "FairnessEvaluation",
    "RuleResult",
    "RuleRow",
    "evaluate_fairness",
    "evaluate_policies",
    "reference_fairness",
]

LABEL_FREE_MESSAGE = "no labels in this window yet: only selection rates and their ratios computed"
_STATUS_ORDER: dict[Status, int] = {
    "pass": 0,
    "insufficient_data": 1,
    "not_evaluated": 2,
    "warn": 3,
    "fail": 4,
    "error": 5,
}


@dataclass(frozen=True)
class Decision:
    """How the positive decision was derived (logged as run parameters by the workflow)."""

    source: str  # "score" or "prediction"
    column: str
    decision_threshold: float | None
    excluded_rows: int = 0

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RuleRow:
    """One group's evidence line for a policy rule (one row of its evidence table)."""

    attribute: str
    group: str
    size: int
    rate: float | None
    reference_group: str | None
    reference_rate: float | None
    value: float | None
    status: Status
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RuleResult:
    """A policy rule over every group it covers; ``status`` is the worst row's.

    Worst means error > fail > warn > not_evaluated > insufficient_data > pass; a rule that
    covers no group is ``insufficient_data``.
    """

    pack: str
    rule: PolicyRule
    rows: tuple[RuleRow, ...]

    @property
    def status(self) -> Status:
        if not self.rows:
            return "insufficient_data"
        return max((r.status for r in self.rows), key=lambda s: _STATUS_ORDER[s])

    def to_dict(self) -> dict[str, object]:
        return {
            "pack": self.pack,
            "rule": self.rule.model_dump(mode="json"),
            "status": self.status,
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class FairnessEvaluation:
    """Everything fairness says about one window."""

    report: FairnessReport
    drift: BiasDriftReport | None
    policies: tuple[RuleResult, ...]
    packs: tuple[PolicyPack, ...]
    decision: Decision
    outcomes: list[CheckOutcome] = field(default_factory=list)
    metrics: list[MetricValue] = field(default_factory=list)

    @property
    def decision_threshold(self) -> float | None:
        return self.decision.decision_threshold

    def to_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision.to_dict(),
            "decision_threshold": self.decision.decision_threshold,
            "labeled": self.report.labeled,
            "report": self.report.to_dict(),
            "drift": None if self.drift is None else self.drift.to_dict(),
            "packs": [p.model_dump(mode="json") for p in self.packs],
            "policies": [r.to_dict() for r in self.policies],
            "outcomes": [_outcome_dict(o) for o in self.outcomes],
            "metrics": {m.name: m.value for m in self.metrics},
        }


def reference_fairness(spec: MonitorSpec, frame: pd.DataFrame) -> FairnessReport | None:
    """The baseline's fairness (``None`` when the spec has no protected attribute).

    A named reference group that the reference data does not contain is a spec error.
    """
    if not spec.columns.protected:
        return None
    report, _ = _compute(spec, frame, None)
    _check_named_references(spec, report)
    return report


def evaluate_fairness(
    spec: MonitorSpec, reference: FairnessReport | None, frame: pd.DataFrame
) -> FairnessEvaluation:
    """A window's fairness, bias drift against ``reference`` and policy rules, as outcomes."""
    report, decision = _compute(spec, frame, reference)
    fs = spec.fairness
    drift = None
    if reference is not None:
        drift = compare_fairness(
            reference, report, alpha=fs.drift_alpha, min_group_size=fs.min_group_size
        )
    packs = load_packs(fs.policies, fs.overrides)
    results = tuple(r for p in packs for r in evaluate_policies(p, report, fs.min_group_size))
    outcomes = _report_outcomes(report) + _drift_outcomes(spec, drift) + _policy_outcomes(results)
    return FairnessEvaluation(
        report, drift, results, tuple(packs), decision, outcomes, _metrics(report)
    )


def evaluate_policies(
    pack: PolicyPack, report: FairnessReport, min_group_size: int
) -> list[RuleResult]:
    """Every rule of ``pack`` over the attributes it covers."""
    results = []
    for rule in pack.rules:
        rows: list[RuleRow] = []
        for attr in report.attributes:
            if rule.covers(attr.attribute, attr.is_intersection):
                minimum = rule.min_group_size or min_group_size
                rows += _rule_rows(rule, attr, report.labeled, minimum)
        results.append(RuleResult(pack.name, rule, tuple(rows)))
    return results


# ---------------------------------------------------------------- inputs


def _compute(
    spec: MonitorSpec, frame: pd.DataFrame, reference: FairnessReport | None
) -> tuple[FairnessReport, Decision]:
    if spec.task == "regression" and spec.columns.protected:
        raise SpecError("columns.protected: fairness metrics need a classification task")
    _require_columns(frame, spec.columns.protected)
    predicted, decision, keep = _decisions(spec, frame)
    labels = _labels(spec, frame)
    protected = frame[spec.columns.protected]
    report = compute_fairness(
        protected[keep] if decision.excluded_rows else protected,
        predicted[keep],
        None if labels is None else labels[keep],
        intersections=spec.fairness.intersections,
        reference_groups=_reference_rules(spec, reference),
        min_group_size=spec.fairness.min_group_size,
    )
    return report, decision


def _require_columns(frame: pd.DataFrame, names: list[str]) -> None:
    for name in names:
        if name not in frame.columns:
            raise DataError(f"column {name!r} (columns.protected) is missing from the data")


def _decisions(spec: MonitorSpec, frame: pd.DataFrame) -> tuple[np.ndarray, Decision, np.ndarray]:
    """Boolean decisions, how they were made, and the rows that have one."""
    cols = spec.columns
    if cols.score and cols.score in frame.columns:
        score = pd.to_numeric(frame[cols.score], errors="coerce").to_numpy(dtype=float)
        keep = ~np.isnan(score)
        threshold = spec.fairness.decision_threshold
        decision = Decision("score", cols.score, threshold, int((~keep).sum()))
        return np.nan_to_num(score, nan=-np.inf) >= threshold, decision, keep
    column = cols.prediction or cols.score or ""
    if column not in frame.columns:
        raise DataError(f"column {column!r} (columns.prediction) is missing from the data")
    positive = _positive(frame[column], spec.positive_label, f"columns.prediction {column!r}")
    keep = ~np.isnan(positive)
    return positive == 1.0, Decision("prediction", column, None, int((~keep).sum())), keep


def _labels(spec: MonitorSpec, frame: pd.DataFrame) -> np.ndarray | None:
    target = spec.columns.target
    if not target or target not in frame.columns or frame[target].isna().all():
        return None
    return _positive(frame[target], spec.positive_label, f"columns.target {target!r}")


def _positive(values: pd.Series, positive_label: object, what: str) -> np.ndarray:
    """1.0 for the positive class, 0.0 otherwise, NaN where missing."""
    missing = values.isna().to_numpy()
    if positive_label is not None:
        hit = (values.astype(object) == positive_label).to_numpy(dtype=bool)
        if not missing.all() and not hit.any() and values.astype(str).eq(str(positive_label)).any():
            hit = values.astype(str).eq(str(positive_label)).to_numpy(dtype=bool)
        return np.where(missing, np.nan, hit.astype(float))
    present = pd.Series(values[~missing].unique())
    if not present.isin([0, 1, True, False]).all():
        raise DataError(f"{what}: values are not 0/1 or boolean; set positive_label in the spec")
    return np.where(missing, np.nan, values.fillna(0).astype(float).to_numpy())


def _reference_rules(spec: MonitorSpec, reference: FairnessReport | None) -> dict[str, str]:
    """Spec rules per attribute; a majority reference is pinned to the baseline's group."""
    rules: dict[str, str] = dict(spec.fairness.reference_groups)
    if reference is None:
        return rules
    for attr in reference.attributes:
        rule = rules.get(attr.attribute, REFERENCE_MAJORITY)
        if rule == REFERENCE_MAJORITY and attr.reference_group is not None:
            rules[attr.attribute] = attr.reference_group
    return rules


def _check_named_references(spec: MonitorSpec, report: FairnessReport) -> None:
    for name, rule in spec.fairness.reference_groups.items():
        attr = report.attribute(name)
        if rule in (REFERENCE_MAJORITY, REFERENCE_MIN_DISPARITY) or attr is None:
            continue
        if attr.group(rule) is None:
            groups = ", ".join(g.group for g in attr.groups)
            raise SpecError(
                f"fairness.reference_groups.{name}: group {rule!r} is not in the reference"
                f" data (groups: {groups})"
            )


# ---------------------------------------------------------------- policy rules


def _rule_rows(
    rule: PolicyRule, attr: AttributeFairness, labeled: bool, minimum: int
) -> list[RuleRow]:
    ref = _rule_reference(rule, attr, minimum)
    return [_rule_row(rule, attr, g, ref, labeled, minimum) for g in attr.groups]


def _rule_reference(rule: PolicyRule, attr: AttributeFairness, minimum: int) -> GroupMetrics | None:
    if rule.reference == "reference_group":
        return attr.group(attr.reference_group) if attr.reference_group else None
    eligible = [g for g in attr.groups if g.size >= minimum and g.rate(rule.metric) is not None]
    if not eligible:
        return None
    pick = max if rule.reference == "highest" else min
    return pick(eligible, key=lambda g: g.rate(rule.metric) or 0.0)


def _rule_row(
    rule: PolicyRule,
    attr: AttributeFairness,
    group: GroupMetrics,
    ref: GroupMetrics | None,
    labeled: bool,
    minimum: int,
) -> RuleRow:
    rate = group.rate(rule.metric) if labeled or not rule.needs_labels else None
    ref_rate = None if ref is None else ref.rate(rule.metric)
    base = (attr.attribute, group.group, group.size, rate, None if ref is None else ref.group)

    def row(value: float | None, status: Status, note: str = "") -> RuleRow:
        return RuleRow(*base, ref_rate, value, status, note)

    if rule.needs_labels and not labeled:
        return row(None, "not_evaluated", LABEL_FREE_MESSAGE)
    if group.size < minimum:
        return row(None, "insufficient_data", f"group has {group.size} rows < minimum {minimum}")
    if ref is None or ref.size < minimum:
        return row(None, "insufficient_data", "no reference group with enough rows")
    value, comparable, note = _measure(rule, rate, ref_rate)
    if comparable is None:
        reason = note or group.undefined_reason(rule.metric) or ref.undefined_reason(rule.metric)
        return row(None, "insufficient_data", reason)
    return row(value, status_for(rule.violated(comparable), rule.severity), note)


def _measure(
    rule: PolicyRule, rate: float | None, ref_rate: float | None
) -> tuple[float | None, float | None, str]:
    """(reported value, value compared with the threshold, note); +inf for an infinite ratio."""
    if rule.measure == "value":
        return rate, rate, ""
    ratio, difference, note = compare_rates(rate, ref_rate)
    if rule.measure == "ratio":
        if ratio is None and difference is not None:
            return None, math.inf, note
        return ratio, ratio, note
    if difference is None:
        return None, None, note
    value = abs(difference) if rule.measure == "abs_difference" else difference
    return value, value, note


# ---------------------------------------------------------------- outcomes and metrics


def _report_outcomes(report: FairnessReport) -> list[CheckOutcome]:
    out = []
    if not report.labeled:
        out.append(
            CheckOutcome(
                check_id="fairness/labels",
                kind="fairness",
                status="not_evaluated",
                severity="info",
                value=None,
                threshold=None,
                message=LABEL_FREE_MESSAGE,
                evidence={"rows": report.rows, "reason": NO_LABELS},
            )
        )
    for attr in report.attributes:
        for g in attr.groups:
            if g.size < report.min_group_size:
                out.append(_small_group(g, report.min_group_size))
    return out


def _small_group(g: GroupMetrics, minimum: int) -> CheckOutcome:
    return CheckOutcome(
        check_id=f"fairness/{g.attribute}={g.group}/group_size",
        kind="fairness",
        status="insufficient_data",
        severity="info",
        value=float(g.size),
        threshold=AppliedThreshold(float(minimum), None, "static", "fairness.min_group_size"),
        message=f"{g.attribute}={g.group}: {g.size} rows < min_group_size {minimum}, not judged",
        metric="group_size",
        evidence={"size": g.size, "min_group_size": minimum},
    )


def _drift_outcomes(spec: MonitorSpec, drift: BiasDriftReport | None) -> list[CheckOutcome]:
    if drift is None:
        return []
    severity = spec.fairness.drift_severity
    note = f"two-proportion z-test, Benjamini-Hochberg adjusted p < {drift.alpha:g}"
    out = []
    for c in drift.changes:
        if c.status == "undefined":
            continue
        cid = f"bias_drift/{c.attribute}={c.group}/{c.metric}"
        evidence: dict[str, float | int | str | None] = {
            "baseline_value": c.baseline_value,
            "current_value": c.current_value,
            "baseline_n": c.baseline_n,
            "current_n": c.current_n,
            "z": c.z,
            "p_value": c.p_value,
            "p_adjusted": c.p_adjusted,
        }
        tested = c.status == "tested"
        status = status_for(c.significant, severity) if tested else "insufficient_data"
        message = _drift_message(c.attribute, c.group, c.metric, c.change, c.p_adjusted, c.note)
        out.append(
            CheckOutcome(
                check_id=cid,
                kind="bias_drift",
                status=status,
                severity=severity,
                value=c.change,
                threshold=AppliedThreshold(None, None, "baseline", note),
                message=message,
                metric=c.metric,
                evidence=evidence,
            )
        )
    return out


def _drift_message(
    attr: str, group: str, metric: str, change: float | None, p_adj: float | None, note: str
) -> str:
    if p_adj is None or change is None:
        return f"{attr}={group} {metric}: not tested ({note})"
    return f"{attr}={group} {metric} changed by {change:+.3f} vs baseline (BH p = {p_adj:.3g})"


def _policy_outcomes(results: tuple[RuleResult, ...]) -> list[CheckOutcome]:
    out = []
    for result in results:
        rule = result.rule
        lower = rule.threshold if rule.comparison in (">=", ">") else None
        upper = rule.threshold if rule.comparison in ("<=", "<") else None
        bound = AppliedThreshold(lower, upper, f"policy:{result.pack}", rule.title)
        metric = f"{rule.metric}_{rule.measure}"
        for row in result.rows:
            evidence: dict[str, float | int | str | None] = {
                "size": row.size,
                "rate": row.rate,
                "reference_group": row.reference_group,
                "reference_rate": row.reference_rate,
                "note": row.note,
            }
            if row.status == "not_evaluated":
                evidence["reason"] = NO_LABELS
            message = _policy_message(rule, row)
            out.append(
                CheckOutcome(
                    check_id=f"policy/{result.pack}/{rule.id}/{row.attribute}={row.group}",
                    kind="policy",
                    status=row.status,
                    severity=rule.severity,
                    value=row.value,
                    threshold=bound,
                    message=message,
                    metric=metric,
                    evidence=evidence,
                )
            )
    return out


def _policy_message(rule: PolicyRule, row: RuleRow) -> str:
    where = f"{row.attribute}={row.group}"
    if row.status == "insufficient_data":
        return f"{rule.id} {where}: insufficient data ({row.note})"
    if row.status == "not_evaluated":
        return f"{rule.id} {where}: not evaluated, {row.note}"
    shown = "infinite" if row.value is None else f"{row.value:.3f}"
    verdict = "meets" if row.status == "pass" else "breaks"
    return (
        f"{rule.id} {where}: {rule.metric} {rule.measure} {shown} {verdict}"
        f" {rule.comparison} {rule.threshold:g}"
    )


def _metrics(report: FairnessReport) -> list[MetricValue]:
    out: list[MetricValue] = []
    for attr in report.attributes:
        for g in attr.groups:
            prefix = f"fairness/{g.attribute}={g.group}"
            out.append(MetricValue(f"{prefix}/size", float(g.size)))
            for metric, value in g.rates(report.metrics).items():
                if value is not None:
                    out.append(MetricValue(f"{prefix}/{metric}", value))
        for d in attr.disparities:
            prefix = f"fairness/{d.attribute}={d.group}/{d.metric}"
            if d.ratio is not None:
                out.append(MetricValue(f"{prefix}_ratio", d.ratio))
            if d.difference is not None:
                out.append(MetricValue(f"{prefix}_difference", d.difference))
    return out


def _outcome_dict(o: CheckOutcome) -> dict[str, object]:
    threshold = None if o.threshold is None else dict(o.threshold.__dict__)
    return {**o.__dict__, "threshold": threshold, "evidence": dict(o.evidence)}

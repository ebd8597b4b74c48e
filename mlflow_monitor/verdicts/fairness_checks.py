"""Fairness checks: a window's fairness, its bias drift and its policy rules as check outcomes.

``reference_fairness`` computes the baseline's fairness (stored in the Baseline through
``FairnessReport.to_dict()``), ``policy_outcomes`` judges the policy packs on it (the reference's
own breaches, stored on the Baseline); ``evaluate_fairness`` computes a window's fairness against
it and returns ``FairnessEvaluation``: the report, the bias-drift tests, every policy rule's
per-group results, the ``CheckOutcome``s that feed health, and the metrics to log under
``fairness/<attribute>=<group>/<metric>``. It counts the frame's groups (``fairness_counts``:
``FairnessCounts`` and ``DecisionCounts``, both mergeable) and judges the counts
(``judge_fairness``), the entry the Spark engine calls with its partitions' merged counts.

Check ids: ``policy/<pack>/<rule id>/<attribute>=<group>`` (kind ``policy``, threshold source
``policy:<pack>``), ``bias_drift/<attribute>=<group>/<metric>`` (kind ``bias_drift``),
``fairness/<attribute>=<group>/group_size`` and ``fairness/labels`` (kind ``fairness``).

Decisions: with a ``columns.score`` column the decision is ``score >= fairness.decision_threshold``
(aequitas's ``score_val`` convention), the score being the probability of ``positive_label``;
otherwise ``columns.prediction == positive_label``. When both columns exist and ``positive_label``
is set, the two decisions must agree on most rows: below ``AGREEMENT_MINIMUM`` (the signature of
a flipped ``positive_label``) it is a ``SpecError``, below ``AGREEMENT_EXPECTED`` a note.

Policy rules are judged on evidence (``verdicts.interval_verdict.judge_interval``): each row
carries its rate's own denominator and a confidence interval at ``confidence_level`` (Wilson for
a rate, Newcombe for a difference, its absolute value for ``abs_difference``, Katz log for a
ratio). A row fails (or warns, for a warning rule) only when the whole interval lies beyond the
line; the point beyond but the interval straddling it is a warning, and ``insufficient_data``
when the interval also includes no gap at all. With ``fairness.favorable_outcome: negative`` (a
positive decision is adverse: a high-risk flag) selection-rate rules compare favourable rates,
the share of negative decisions (``favorable_rate``), so the most-flagged group is the one hurt.

Bias drift counts a change when it is significant (Benjamini-Hochberg at ``drift_alpha``) and at
least ``drift_min_effect`` in size; its outcome's value is the window's rate, ``baseline`` the
baseline's, the interval Newcombe's of window - baseline, the threshold the band of
``drift_min_effect`` around the baseline value.

Unjudged checks: in a window without labels (no target column, or every label missing) the
label-based rules (TPR, FNR, FPR ...) and ``fairness/labels`` are ``not_evaluated``, their input
is absent (a critical rule makes the window partial and a gate refuses); selection-rate rules
still run. A rate whose own denominator (actual positives for an FNR, rows for a selection
rate ...) is below ``min_group_size`` on the group's or the reference's side is
``insufficient_data`` with the counts in evidence: reported, never blocking, never paging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from mlflow_monitor.contract import (
    AppliedThreshold,
    CheckOutcome,
    Interval,
    MetricValue,
    Status,
    level_text,
)
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import FavorableOutcome, MonitorSpec, Severity
from mlflow_monitor.stats.bias_drift import BiasChange, BiasDriftReport, compare_fairness
from mlflow_monitor.stats.fairness import (
    FAVORABLE_RATE,
    REFERENCE_MAJORITY,
    REFERENCE_MIN_DISPARITY,
    AttributeFairness,
    FairnessCounts,
    FairnessReport,
    GroupMetrics,
    compare_rates,
    denominator_word,
)
from mlflow_monitor.stats.intervals import katz_log, newcombe, wilson
from mlflow_monitor.verdicts.interval_verdict import (
    IntervalVerdict,
    judge_interval,
    routed_severity,
)
from mlflow_monitor.verdicts.policies import PolicyPack, PolicyRule, load_packs
from mlflow_monitor.verdicts.thresholds import status_for
from mlflow_monitor.verdicts.window_checks import NO_LABELS

__all__ = [
    "AGREEMENT_EXPECTED",
    "AGREEMENT_MINIMUM",
    "AGREEMENT_ROWS",
    "LABEL_FREE_MESSAGE",
    "REFERENCE_NOTE",
    "Decision",
    "DecisionCounts",
    "FairnessEvaluation",
    "RuleResult",
    "RuleRow",
    "check_decision_agreement",
    "evaluate_fairness",
    "evaluate_policies",
    "fairness_counts",
    "judge_fairness",
    "policy_outcomes",
    "policy_results",
    "positive_indicator",
    "reference_fairness",
]

LABEL_FREE_MESSAGE = "no labels in this window yet: only selection rates and their ratios computed"
REFERENCE_NOTE = "the reference group"  # a rule row comparing the reference with itself
AGREEMENT_MINIMUM = 0.5  # score decisions vs prediction == positive_label: below, a flipped label
AGREEMENT_EXPECTED = 0.9  # below this (and above the minimum) the Decision carries a note
AGREEMENT_ROWS = 100_000  # rows the agreement is measured on (evenly spread)
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
    """How the positive decision was derived (logged as run parameters by the workflow).

    ``agreement``: share of rows where the score's decision equals ``prediction ==
    positive_label`` (``None`` when not both are present); ``note`` says when it is low.
    """

    source: str  # "score" or "prediction"
    column: str
    decision_threshold: float | None
    excluded_rows: int = 0
    agreement: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RuleRow:
    """One group's evidence line for a policy rule (one row of its evidence table).

    ``rate`` is the rate the rule read, named by ``rate_used`` (the rule's metric, or
    ``favorable_rate`` for a selection-rate rule when a positive decision is adverse);
    ``denominator``/``reference_denominator`` are the counts it is taken over; ``interval`` is
    the confidence interval of ``value`` and ``reason`` says how the interval decided ``status``.
    """

    attribute: str
    group: str
    size: int
    rate: float | None
    reference_group: str | None
    reference_rate: float | None
    value: float | None
    status: Status
    note: str = ""
    rate_used: str = ""
    denominator: int | None = None
    reference_denominator: int | None = None
    interval: Interval | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["interval"] = None if self.interval is None else self.interval.to_dict()
        return out


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
            "outcomes": [o.to_dict() for o in self.outcomes],
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
    counts, decisions = fairness_counts(spec, frame)
    return judge_fairness(spec, reference, counts, decisions.decision(spec))


def judge_fairness(
    spec: MonitorSpec, reference: FairnessReport | None, counts: FairnessCounts, decision: Decision
) -> FairnessEvaluation:
    """``evaluate_fairness`` from a window's group counts (a frame's, or merged partitions').

    The one place a window's fairness is judged: the pandas path counts its frame, the Spark
    engine merges its partitions' counts, and the report, bias drift, policies, outcomes and
    metrics are this code's either way.
    """
    report = counts.report(
        reference_groups=_reference_rules(spec, reference),
        min_group_size=spec.fairness.min_group_size,
        level=spec.confidence_level,
    )
    drift = _bias_drift(spec, reference, report)
    packs = load_packs(spec.fairness.policies, spec.fairness.overrides)
    results = policy_results(spec, report, packs)
    outcomes = _report_outcomes(report) + _drift_outcomes(spec, drift) + _policy_outcomes(results)
    return FairnessEvaluation(
        report, drift, results, tuple(packs), decision, outcomes, _metrics(report)
    )


def policy_outcomes(spec: MonitorSpec, report: FairnessReport) -> list[CheckOutcome]:
    """The spec's policy rules judged on ``report`` (a window's or the reference's)."""
    packs = load_packs(spec.fairness.policies, spec.fairness.overrides)
    return _policy_outcomes(policy_results(spec, report, packs))


def policy_results(
    spec: MonitorSpec, report: FairnessReport, packs: list[PolicyPack]
) -> tuple[RuleResult, ...]:
    """Every rule of ``packs`` on ``report``, with the spec's minimum, level and favourable side."""
    fs = spec.fairness
    minimum, level, side = fs.min_group_size, spec.confidence_level, fs.favorable_outcome
    family = sum(
        _family_size(_judgings(pack, report, minimum, level, side), report) for pack in packs
    )
    return tuple(
        result
        for pack in packs
        for result in evaluate_policies(
            pack,
            report,
            min_group_size=minimum,
            level=level,
            favorable_outcome=side,
            family=family,
        )
    )


def evaluate_policies(
    pack: PolicyPack,
    report: FairnessReport,
    *,
    min_group_size: int,
    level: float,
    favorable_outcome: FavorableOutcome = "positive",
    family: int | None = None,
) -> list[RuleResult]:
    """Every rule of ``pack`` over the attributes it covers.

    The rows are judged at one simultaneous level (Bonferroni): ``level`` holds for all
    ``family`` comparisons together, the window's whole policy table (``policy_results`` counts
    it over every pack), or this pack's comparisons when ``family`` is not given.
    """
    judgings = _judgings(pack, report, min_group_size, level, favorable_outcome)
    size = _family_size(judgings, report) if family is None else family
    row_level = 1.0 - (1.0 - level) / max(1, size)
    results = []
    for judging in judgings:
        rows: list[RuleRow] = []
        for attr in _covered(judging, report):
            rows += _rule_rows(judging, attr, row_level)
        results.append(RuleResult(pack.name, judging.rule, tuple(rows)))
    return results


def _judgings(
    pack: PolicyPack,
    report: FairnessReport,
    min_group_size: int,
    level: float,
    favorable_outcome: FavorableOutcome,
) -> list[_Judging]:
    return [
        _Judging(
            rule=rule,
            metric=_rule_metric(rule, favorable_outcome),
            minimum=rule.min_group_size or min_group_size,
            level=level,
            labeled=report.labeled,
        )
        for rule in pack.rules
    ]


def _covered(judging: _Judging, report: FairnessReport) -> list[AttributeFairness]:
    rule = judging.rule
    return [a for a in report.attributes if rule.covers(a.attribute, a.is_intersection)]


def _family_size(judgings: list[_Judging], report: FairnessReport) -> int:
    """How many comparisons the rules make on ``report`` (see ``_comparisons``)."""
    return sum(
        _comparisons(judging, attr, _rule_reference(judging, attr))
        for judging in judgings
        if judging.judged
        for attr in _covered(judging, report)
    )


def _bias_drift(
    spec: MonitorSpec, reference: FairnessReport | None, report: FairnessReport
) -> BiasDriftReport | None:
    if reference is None:
        return None
    fs = spec.fairness
    return compare_fairness(
        reference,
        report,
        alpha=fs.drift_alpha,
        min_group_size=fs.min_group_size,
        min_effect=fs.drift_min_effect,
        level=spec.confidence_level,
    )


# ---------------------------------------------------------------- inputs


def _compute(
    spec: MonitorSpec, frame: pd.DataFrame, reference: FairnessReport | None
) -> tuple[FairnessReport, Decision]:
    counts, decisions = fairness_counts(spec, frame)
    decision = decisions.decision(spec)
    report = counts.report(
        reference_groups=_reference_rules(spec, reference),
        min_group_size=spec.fairness.min_group_size,
        level=spec.confidence_level,
    )
    return report, decision


@dataclass(frozen=True)
class DecisionCounts:
    """How the decisions of some rows were made, as counts that merge across partitions.

    ``excluded_rows``: rows without a decision (score or prediction missing); ``agreeing`` of
    ``compared`` rows: the score's decision equals ``prediction == positive_label`` (both 0
    when the check does not apply, see ``check_decision_agreement``). ``decision`` gives the
    ``Decision`` of all the rows counted, refusing a flipped ``positive_label``.
    """

    source: str  # "score" or "prediction"
    column: str
    decision_threshold: float | None
    excluded_rows: int = 0
    agreeing: int = 0
    compared: int = 0

    def merge(self, other: DecisionCounts) -> DecisionCounts:
        return replace(
            self,
            excluded_rows=self.excluded_rows + other.excluded_rows,
            agreeing=self.agreeing + other.agreeing,
            compared=self.compared + other.compared,
        )

    def decision(self, spec: MonitorSpec) -> Decision:
        """The ``Decision``; a ``SpecError`` when the agreement is below ``AGREEMENT_MINIMUM``."""
        agreement = _agreement(spec, self.agreeing, self.compared)
        if self.source != "score":
            return Decision(self.source, self.column, None, self.excluded_rows)
        return Decision(
            self.source,
            self.column,
            self.decision_threshold,
            self.excluded_rows,
            agreement,
            _agreement_note(spec, agreement),
        )


def fairness_counts(
    spec: MonitorSpec, frame: pd.DataFrame, *, agreement_rows: int | None = AGREEMENT_ROWS
) -> tuple[FairnessCounts, DecisionCounts]:
    """The group counts of ``frame``'s rows that have a decision, and how they were decided.

    ``agreement_rows``: the agreement of score and prediction is counted on at most that many
    rows evenly spread (``check_decision_agreement``), on every row with ``None`` (the Spark
    engine, whose partitions' counts add up to the whole window's exact share).
    """
    if spec.task == "regression" and spec.columns.protected:
        raise SpecError("columns.protected: fairness metrics need a classification task")
    _require_columns(frame, spec.columns.protected)
    predicted, decisions, keep = _decisions(spec, frame, agreement_rows)
    labels = _labels(spec, frame)
    protected = frame[spec.columns.protected]
    counts = FairnessCounts.of(
        protected[keep] if decisions.excluded_rows else protected,
        predicted[keep],
        None if labels is None else labels[keep],
        intersections=spec.fairness.intersections,
    )
    return counts, decisions


def _require_columns(frame: pd.DataFrame, names: list[str]) -> None:
    for name in names:
        if name not in frame.columns:
            raise DataError(f"column {name!r} (columns.protected) is missing from the data")


def _decisions(
    spec: MonitorSpec, frame: pd.DataFrame, agreement_rows: int | None
) -> tuple[np.ndarray, DecisionCounts, np.ndarray]:
    """Boolean decisions, how they were made, and the rows that have one."""
    cols = spec.columns
    if cols.score and cols.score in frame.columns:
        agreeing, compared = _agreement_counts(spec, frame, agreement_rows)
        score = pd.to_numeric(frame[cols.score], errors="coerce").to_numpy(dtype=float)
        keep = ~np.isnan(score)
        threshold = spec.fairness.decision_threshold
        decisions = DecisionCounts(
            "score", cols.score, threshold, int((~keep).sum()), agreeing, compared
        )
        return np.nan_to_num(score, nan=-np.inf) >= threshold, decisions, keep
    column = cols.prediction or cols.score or ""
    if column not in frame.columns:
        raise DataError(f"column {column!r} (columns.prediction) is missing from the data")
    positive = positive_indicator(
        frame[column], spec.positive_label, f"columns.prediction {column!r}"
    )
    keep = ~np.isnan(positive)
    return positive == 1.0, DecisionCounts("prediction", column, None, int((~keep).sum())), keep


def check_decision_agreement(spec: MonitorSpec, frame: pd.DataFrame) -> float | None:
    """Share of rows where ``score >= decision_threshold`` equals ``prediction == positive_label``.

    Checked for a binary classifier whose spec has a score and a prediction column (both in
    ``frame``) and sets ``positive_label``: the score is read as the probability of
    ``positive_label``, so the two decisions should agree on most rows. Below
    ``AGREEMENT_MINIMUM`` they mostly contradict each other, the signature of a flipped
    ``positive_label``: a ``SpecError`` naming both keys.
    Measured on at most ``AGREEMENT_ROWS`` rows evenly spread over the frame (every k-th row:
    plenty for a share, and the label comparison costs 0.07 s per million rows); the Spark
    engine counts every row of the window instead (``fairness_counts``), so on a frame of more
    than ``AGREEMENT_ROWS`` rows the two shares may differ slightly (equal below it). ``None``
    when the check does not apply.
    """
    return _agreement(spec, *_agreement_counts(spec, frame, AGREEMENT_ROWS))


def _agreement_counts(spec: MonitorSpec, frame: pd.DataFrame, rows: int | None) -> tuple[int, int]:
    """(agreeing, compared) rows of ``check_decision_agreement``; (0, 0) when it does not apply.

    ``rows``: at most that many rows, every k-th one; ``None``: every row.
    """
    cols = spec.columns
    label = spec.positive_label
    present = [c for c in (cols.score, cols.prediction) if c and c in frame.columns]
    binary = spec.task == "binary_classification"
    if not binary or label is None or not cols.score or not cols.prediction or len(present) < 2:
        return 0, 0
    chosen = frame if rows is None else frame.iloc[:: max(1, -(-len(frame) // rows))]
    score = pd.to_numeric(chosen[cols.score], errors="coerce").to_numpy(dtype=float)
    predicted = positive_indicator(
        chosen[cols.prediction], label, f"columns.prediction {cols.prediction!r}"
    )
    both = ~np.isnan(score) & ~np.isnan(predicted)
    threshold = spec.fairness.decision_threshold
    agreeing = int(np.count_nonzero((score[both] >= threshold) == (predicted[both] == 1.0)))
    return agreeing, int(np.count_nonzero(both))


def _agreement(spec: MonitorSpec, agreeing: int, compared: int) -> float | None:
    """The share agreeing (``None``: nothing compared); a ``SpecError`` below the minimum."""
    if compared == 0:
        return None
    agreement = agreeing / compared
    if agreement < AGREEMENT_MINIMUM:
        cols, label = spec.columns, spec.positive_label
        threshold = spec.fairness.decision_threshold
        raise SpecError(
            f"positive_label {label!r} contradicts columns.score {cols.score!r}: score >="
            f" fairness.decision_threshold {threshold:g} agrees with {cols.prediction} =="
            f" {label!r} on only {agreement:.0%} of rows; the score must be the probability of"
            " positive_label (is positive_label the other class?)"
        )
    return agreement


def _agreement_note(spec: MonitorSpec, agreement: float | None) -> str:
    if agreement is None or agreement >= AGREEMENT_EXPECTED:
        return ""
    return (
        f"score >= {spec.fairness.decision_threshold:g} agrees with the prediction column on"
        f" {agreement:.0%} of rows only; fairness audits the score's decision"
    )


def _labels(spec: MonitorSpec, frame: pd.DataFrame) -> np.ndarray | None:
    target = spec.columns.target
    if not target or target not in frame.columns or frame[target].isna().all():
        return None
    return positive_indicator(frame[target], spec.positive_label, f"columns.target {target!r}")


def positive_indicator(values: pd.Series, positive_label: object, what: str) -> np.ndarray:
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


@dataclass(frozen=True)
class _Judging:
    """What every row of one rule is judged with: the rate read, the minimum, the level."""

    rule: PolicyRule
    metric: str
    minimum: int
    level: float
    labeled: bool

    @property
    def judged(self) -> bool:
        return self.labeled or not self.rule.needs_labels


def _rule_metric(rule: PolicyRule, favorable_outcome: FavorableOutcome) -> str:
    """The rate a rule reads: favourable rates for selection-rate rules when positive is adverse."""
    if rule.metric == "selection_rate" and favorable_outcome == "negative":
        return FAVORABLE_RATE
    return rule.metric


def _rule_rows(judging: _Judging, attr: AttributeFairness, row_level: float) -> list[RuleRow]:
    at_level = replace(judging, level=row_level)
    ref = _rule_reference(at_level, attr)
    return [_rule_row(at_level, attr, g, ref) for g in attr.groups]


def _comparisons(judging: _Judging, attr: AttributeFairness, ref: GroupMetrics | None) -> int:
    """The comparisons one rule makes over one attribute, for the simultaneous level.

    At 95% each, a table of many rows would flag some by chance on every clean window (seen: 25
    groups of 120 rows against the luckiest one; a 74-positive group's FNR gap in 2% of clean
    windows). Counted: the groups judged against a fixed reference group (or on their own, for
    a ``value`` rule), or every pair of groups when the reference is the highest or lowest group
    (a reference picked from the same data is itself an extreme, so every pair is in play).
    """
    judged = [
        g
        for g in attr.groups
        if g.denominator(judging.metric) >= judging.minimum
        and (ref is None or g.group != ref.group or judging.rule.measure == "value")
    ]
    k = len(judged)
    if judging.rule.reference in ("highest", "lowest") and judging.rule.measure != "value":
        return (k + 1) * k // 2  # the k judged groups and the reference: every pair
    return k


def _rule_reference(judging: _Judging, attr: AttributeFairness) -> GroupMetrics | None:
    """The spec's reference group, or the highest/lowest-rate group with enough cases.

    The literal highest (lowest) rate among the groups whose own denominator reaches the
    minimum, as the four-fifths rule and LL144 define it; a group too small to be judged is
    never everyone's comparator. (A comparator picked by the lower end of its interval was
    tried: it changed the published ratio and did not remove the chance extremes.)
    """
    if judging.rule.reference == "reference_group":
        return attr.group(attr.reference_group) if attr.reference_group else None
    metric = judging.metric
    eligible = [
        g
        for g in attr.groups
        if g.denominator(metric) >= judging.minimum and g.rate(metric) is not None
    ]
    if not eligible:
        return None
    pick = max if judging.rule.reference == "highest" else min
    return pick(eligible, key=lambda g: g.rate(metric) or 0.0)


def _rule_row(
    judging: _Judging, attr: AttributeFairness, group: GroupMetrics, ref: GroupMetrics | None
) -> RuleRow:
    rule, metric = judging.rule, judging.metric
    rate = group.rate(metric) if judging.judged else None
    ref_rate = None if ref is None or not judging.judged else ref.rate(metric)

    def row(
        value: float | None,
        status: Status,
        note: str = "",
        interval: Interval | None = None,
        reason: str = "",
    ) -> RuleRow:
        return RuleRow(
            attr.attribute,
            group.group,
            group.size,
            rate,
            None if ref is None else ref.group,
            ref_rate,
            value,
            status,
            note,
            rate_used=metric,
            denominator=group.denominator(metric),
            reference_denominator=None if ref is None else ref.denominator(metric),
            interval=interval,
            reason=reason,
        )

    if not judging.judged:
        return row(None, "not_evaluated", LABEL_FREE_MESSAGE)
    short = _too_few(judging, group, ref)
    if short:
        return row(None, "insufficient_data", short)
    value, comparable, note = _measure(rule, rate, ref_rate)
    if comparable is None:
        reason = note or group.undefined_reason(metric)
        return row(None, "insufficient_data", reason or _reference_undefined(ref, metric))
    if ref is not None and ref.group == group.group and rule.measure != "value":
        return row(value, "pass", REFERENCE_NOTE)  # compared with itself: no gap to judge
    interval = _row_interval(judging, group, ref)
    verdict = judge_interval(
        point=comparable,
        low=interval.low,
        high=interval.high,
        violated=rule.violated,
        severity=rule.severity,
        parity=rule.parity,
    )
    if verdict.status == "warn" and not _apart_from_the_extreme(judging, group, ref):
        verdict = IntervalVerdict("insufficient_data", _EXTREME_REASON)
    return row(value, verdict.status, note, interval=interval, reason=verdict.reason)


_EXTREME_REASON = (
    "the estimate is beyond the line, but the comparator is the highest (lowest) of several"
    " groups and the two groups' own intervals overlap: a chance extreme cannot be ruled out"
)


def _apart_from_the_extreme(
    judging: _Judging, group: GroupMetrics, ref: GroupMetrics | None
) -> bool:
    """For a rule against the highest/lowest group: the two groups' own intervals do not overlap.

    The comparator is the maximum (minimum) of several noisy rates, so it is high (low) by
    selection: on clean data a 250-row group that was highest by chance made the largest group
    warn in about 1% of windows, though the ratio's own interval excluded 1. A straddling
    warning against such a comparator needs the groups apart on their own (Wilson at the row
    level); a fixed reference group is not selected and keeps the ratio's interval alone.
    """
    if judging.rule.reference not in ("highest", "lowest") or ref is None:
        return True
    g_low, g_high = wilson(*group.fraction(judging.metric), level=judging.level)
    r_low, r_high = wilson(*ref.fraction(judging.metric), level=judging.level)
    return g_high < r_low or r_high < g_low


def _too_few(judging: _Judging, group: GroupMetrics, ref: GroupMetrics | None) -> str:
    """Why the rate's own denominator (or the reference's) is too small to judge; else ``""``."""
    metric, minimum = judging.metric, judging.minimum
    unit = denominator_word(metric)
    n = group.denominator(metric)
    if n < minimum:
        return f"{_RATE_NAMES[metric]} rests on {n} {unit} < minimum {minimum}"
    if judging.rule.measure == "value":
        return ""
    if ref is None:
        return f"no reference group with at least {minimum} {unit}"
    n_ref = ref.denominator(metric)
    if n_ref < minimum:
        return f"reference group {ref.group} has {n_ref} {unit} < minimum {minimum}"
    return ""


def _reference_undefined(ref: GroupMetrics | None, metric: str) -> str:
    return "" if ref is None else f"reference {ref.undefined_reason(metric)}"


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


def _row_interval(judging: _Judging, group: GroupMetrics, ref: GroupMetrics | None) -> Interval:
    """Wilson (value), Katz log (ratio) or Newcombe (difference, and its absolute value)."""
    level, measure = judging.level, judging.rule.measure
    x1, n1 = group.fraction(judging.metric)
    if measure == "value" or ref is None:
        low, high = wilson(x1, n1, level=level)
        return Interval(low, high, level, "wilson", n1)
    x2, n2 = ref.fraction(judging.metric)
    if measure == "ratio":
        r_low, r_high = katz_log(x1, n1, x2, n2, level=level)
        return Interval(r_low, r_high, level, "katz_log", n1, n2)
    low, high = newcombe(x1, n1, x2, n2, level=level)
    if measure == "abs_difference":
        low, high = _absolute(low, high)
    return Interval(low, high, level, "newcombe", n1, n2)


def _absolute(low: float, high: float) -> tuple[float, float]:
    """Interval of ``|d|`` from the interval ``[low, high]`` of ``d``."""
    if low > 0:
        return low, high
    if high < 0:
        return -high, -low
    return 0.0, max(-low, high)


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
    """One outcome per tested or too-small change (undefined rates have nothing to say)."""
    if drift is None:
        return []
    severity = spec.fairness.drift_severity
    return [_drift_outcome(c, drift, severity) for c in drift.changes if c.status != "undefined"]


def _drift_outcome(c: BiasChange, drift: BiasDriftReport, severity: Severity) -> CheckOutcome:
    """Value: the window's rate; baseline: the baseline's; interval: Newcombe of the change."""
    tested = c.status == "tested"
    interval = None
    if c.low is not None and c.high is not None:
        interval = Interval(
            c.low, c.high, drift.level, "newcombe", c.current_n, c.baseline_n, of="change"
        )
    evidence: dict[str, float | int | str | None] = {
        "baseline_value": c.baseline_value,
        "current_value": c.current_value,
        "change": c.change,
        "baseline_n": c.baseline_n,
        "current_n": c.current_n,
        "z": c.z,
        "p_value": c.p_value,
        "p_adjusted": c.p_adjusted,
        "min_effect": drift.min_effect,
        "note": c.note,
    }
    return CheckOutcome(
        check_id=f"bias_drift/{c.attribute}={c.group}/{c.metric}",
        kind="bias_drift",
        status=status_for(c.significant, severity) if tested else "insufficient_data",
        severity=severity,
        value=c.current_value,
        threshold=_drift_band(c, drift),
        message=_drift_message(c, drift),
        metric=c.metric,
        evidence=evidence,
        interval=interval,
        baseline=c.baseline_value,
    )


def _drift_band(c: BiasChange, drift: BiasDriftReport) -> AppliedThreshold | None:
    """The band of ``min_effect`` around the baseline value, naming the test that also applies."""
    if c.baseline_value is None:
        return None
    effect = drift.min_effect
    note = (
        f"a change of at least {effect:g} from the baseline that is also significant"
        " (two-proportion z-test on the rate's own denominators, Benjamini-Hochberg"
        f" adjusted p < {drift.alpha:g})"
    )
    return AppliedThreshold(c.baseline_value - effect, c.baseline_value + effect, "baseline", note)


def _drift_message(c: BiasChange, drift: BiasDriftReport) -> str:
    where = f"{c.attribute}={c.group} {c.metric}"
    if c.status != "tested" or c.change is None or c.p_adjusted is None:
        return f"{where}: not tested ({c.note})"
    text = (
        f"{where} {_num(c.current_value)} vs baseline {_num(c.baseline_value)}"
        f" (change {c.change:+.2f}, {level_text(drift.level)} interval"
        f" [{_num(c.low)}, {_num(c.high)}],"
        f" n={c.current_n:,} vs {c.baseline_n:,}; BH p={c.p_adjusted:.2g})"
    )
    if c.significant:
        return text
    if c.bh_significant:
        return f"{text}: smaller than the minimum change {drift.min_effect:g}"
    return f"{text}: not significant"


def _policy_outcomes(results: tuple[RuleResult, ...]) -> list[CheckOutcome]:
    out = []
    for result in results:
        rule = result.rule
        lower = rule.threshold if rule.comparison in (">=", ">") else None
        upper = rule.threshold if rule.comparison in ("<=", "<") else None
        bound = AppliedThreshold(lower, upper, f"policy:{result.pack}", rule.title)
        out += [_policy_outcome(result.pack, rule, bound, row) for row in result.rows]
    return out


def _policy_outcome(
    pack: str, rule: PolicyRule, bound: AppliedThreshold, row: RuleRow
) -> CheckOutcome:
    evidence: dict[str, float | int | str | None] = {
        "size": row.size,
        "rate": row.rate,
        "rate_used": row.rate_used,
        "denominator": row.denominator,
        "reference_group": row.reference_group,
        "reference_rate": row.reference_rate,
        "reference_denominator": row.reference_denominator,
        "note": row.note,
        "judgement": row.reason,
    }
    if row.status == "not_evaluated":
        evidence["reason"] = NO_LABELS
    return CheckOutcome(
        check_id=f"policy/{pack}/{rule.id}/{row.attribute}={row.group}",
        kind="policy",
        status=row.status,
        severity=routed_severity(row.status, rule.severity),
        value=row.value,
        threshold=bound,
        message=_policy_message(rule, row),
        metric=f"{row.rate_used or rule.metric}_{rule.measure}",
        evidence=evidence,
        interval=row.interval,
    )


_RATE_NAMES: dict[str, str] = {
    "selection_rate": "selection rate",
    FAVORABLE_RATE: "favourable rate",
    "prevalence": "prevalence",
    "tpr": "TPR",
    "fpr": "FPR",
    "fnr": "FNR",
    "fdr": "FDR",
    "for": "FOR",
    "precision": "precision",
}
_MEASURE_WORDS = {"ratio": "ratio", "difference": "difference", "abs_difference": "|difference|"}
_STATUS_WORDS: dict[Status, str] = {
    "pass": "pass",
    "warn": "warning",
    "fail": "fail",
    "insufficient_data": "insufficient data",
}


def _policy_message(rule: PolicyRule, row: RuleRow) -> str:
    """Value, reference, interval and denominators, and where the interval lies."""
    where = f"{rule.id} {row.attribute}={row.group}"
    if row.status == "not_evaluated":
        return f"{where}: not evaluated, {row.note}"
    metric = row.rate_used or rule.metric
    text = f"{where}: {_RATE_NAMES[metric]} {_num(row.rate)}"
    text += f" (n={row.denominator or 0:,} {denominator_word(metric)})"
    if row.note == REFERENCE_NOTE:
        return f"{text}, {REFERENCE_NOTE}: pass"
    if row.interval is None:
        return f"{where}: insufficient data ({row.note})"
    if rule.measure != "value":
        text += (
            f" vs {_num(row.reference_rate)} (n={row.reference_denominator or 0:,})"
            f" for {row.reference_group}, {_MEASURE_WORDS[rule.measure]}"
            f" {_value_text(row.value, rule.threshold)}"
        )
    iv = row.interval
    low = "-inf" if iv.low is None else _num(iv.low)
    high = "+inf" if iv.high is None else _num(iv.high)
    line = f"the line {rule.comparison} {rule.threshold:g}"
    return (
        f"{text}, {level_text(iv.level)} interval [{low}, {high}] {_placement(rule, row, line)}:"
        f" {_STATUS_WORDS.get(row.status, row.status)}"
    )


def _placement(rule: PolicyRule, row: RuleRow, line: str) -> str:
    """Where the interval lies against the line, in words."""
    if row.status == "pass":
        return f"meets {line}"
    if row.status == "insufficient_data":
        return f"straddles {line} and also includes {rule.parity or 0.0:g} (no gap)"
    iv = row.interval
    low = -math.inf if iv is None or iv.low is None else iv.low
    high = math.inf if iv is None or iv.high is None else iv.high
    if rule.violated(low) and rule.violated(high):
        return f"lies beyond {line}"
    return f"straddles {line}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _value_text(value: float | None, threshold: float) -> str:
    """The compared value with enough decimals not to print as the line it misses."""
    if value is None:
        return "infinite"
    for digits in (2, 3, 4):
        text = f"{value:.{digits}f}"
        if value == threshold or text != f"{threshold:.{digits}f}":
            return text
    return f"{value:.6g}"


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
